package spacecore

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Desired is the state a spacecore's owner asked for. It is persisted
// before the supervisor acts on it, so it is the source of truth after a
// crash.
type Desired string

// Desired states.
const (
	DesiredRunning Desired = "running"
	DesiredStopped Desired = "stopped"
	DesiredDeleted Desired = "deleted"
)

// Phase is what the supervisor last observed or did. It is informative
// (and persisted for display); decisions are made from Desired, the
// generations and the provider's view of the machine.
type Phase string

// Phases.
const (
	PhaseStarting Phase = "starting" // creating/starting the machine
	PhaseRunning  Phase = "running"
	PhaseBackoff  Phase = "backoff" // exited; restart scheduled at RestartAt
	PhaseExited   Phase = "exited"  // exited and the policy says stay down
	PhaseStopped  Phase = "stopped" // stopped because the owner asked
	PhaseFailed   Phase = "failed"  // could not be started (see LastError)
	PhaseRemoving Phase = "removing"
)

// Phases lists every phase, for metrics.
var Phases = []Phase{PhaseStarting, PhaseRunning, PhaseBackoff, PhaseExited, PhaseStopped, PhaseFailed, PhaseRemoving}

// RestartPolicy says what happens when a workload exits on its own.
type RestartPolicy string

// Restart policies. The empty policy means RestartOnFailure.
const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "never"
)

// Valid reports whether p is a known policy.
func (p RestartPolicy) Valid() bool {
	switch p {
	case RestartAlways, RestartOnFailure, RestartNever:
		return true
	}
	return false
}

// LabelID is the machine label that marks a machine as a spacecore's; its
// value is the spacecore id (which is also the machine id). Machines
// carrying it without a record are orphans and get deleted.
const LabelID = "vimana.spacecore"

// Record is one spacecore as persisted in the supervisor's database.
// Spec.Process.Env may hold secrets: callers that display records should
// use Redacted.
type Record struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner"` // key id of the owner, for authorization

	Desired Desired `json:"desired"`
	// Generation is bumped on every change of Desired (and on Start).
	Generation int64 `json:"generation"`
	// MachineGeneration is the Generation the current machine was started
	// for. When it equals Generation, an exit of that machine is the
	// workload's doing and the restart policy applies; otherwise the owner
	// asked for a (re)start that has not happened yet.
	MachineGeneration int64 `json:"machine_generation"`
	// Incarnation counts machine creations; it tells log copies apart.
	Incarnation int64 `json:"incarnation"`

	Spec        hypercore.MachineSpec `json:"spec"` // resolved: RootFS and Process set
	ImageRef    string                `json:"image_ref,omitempty"`
	ImageDigest string                `json:"image_digest,omitempty"`
	Override    Override              `json:"override,omitzero"`

	Restart      RestartPolicy         `json:"restart"`
	RestartCount int                   `json:"restart_count"` // restarts by policy, ever
	BackoffStep  int                   `json:"backoff_step"`  // consecutive quick failures
	RestartAt    time.Time             `json:"restart_at,omitzero"`
	LastExit     *hypercore.ExitStatus `json:"last_exit,omitempty"`
	LastError    string                `json:"last_error,omitempty"`

	Phase     Phase     `json:"phase"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
}

// Redacted returns a copy without environment values (names are kept),
// safe to show or log.
func (r Record) Redacted() Record {
	r.Spec.Process.Env = redactEnv(r.Spec.Process.Env)
	r.Override.Env = redactEnv(r.Override.Env)
	return r
}

func redactEnv(env []string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, len(env))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		out[i] = k + "=<redacted>"
	}
	return out
}

// clone deep-copies the parts of r that callers could mutate.
func (r Record) clone() Record {
	s := &r.Spec
	s.Process.Args = append([]string(nil), s.Process.Args...)
	s.Process.Env = append([]string(nil), s.Process.Env...)
	s.Network.Ports = append([]hypercore.Port(nil), s.Network.Ports...)
	s.Volumes = append([]hypercore.Volume(nil), s.Volumes...)
	if s.Labels != nil {
		l := make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			l[k] = v
		}
		s.Labels = l
	}
	o := &r.Override
	o.Command = append([]string(nil), o.Command...)
	o.Args = append([]string(nil), o.Args...)
	o.Env = append([]string(nil), o.Env...)
	if r.LastExit != nil {
		e := *r.LastExit
		r.LastExit = &e
	}
	return r
}

// CreateRequest asks for a new spacecore.
type CreateRequest struct {
	// ID, when set, names the spacecore (a DNS label, e.g. a lease ID);
	// by default one is generated.
	ID    string
	Name  string
	Owner string
	// Spec is the machine to run. With ImageRef set, RootFS and Process
	// come from the Resolver (Override adjusts the image's process);
	// without it, Spec.RootFS and Spec.Process must be complete.
	Spec     hypercore.MachineSpec
	ImageRef string
	Override Override
	Restart  RestartPolicy
}

func (r *CreateRequest) validate() error {
	if r.Name == "" {
		r.Name = r.Spec.Name
	}
	if r.Spec.Name == "" {
		r.Spec.Name = r.Name
	}
	if r.Name == "" {
		return fmt.Errorf("%w: spacecore name is empty", hypercore.ErrInvalid)
	}
	if r.ID != "" && !validID.MatchString(r.ID) {
		return fmt.Errorf("%w: spacecore id %q: want a lower-case DNS label of 3-63 characters", hypercore.ErrInvalid, r.ID)
	}
	if r.Restart == "" {
		r.Restart = RestartOnFailure
	}
	if !r.Restart.Valid() {
		return fmt.Errorf("%w: restart policy %q: want always, on-failure or never", hypercore.ErrInvalid, r.Restart)
	}
	if r.Spec.Isolation == "" {
		r.Spec.Isolation = hypercore.IsolationSandbox
	}
	if !r.Spec.Isolation.Valid() {
		return fmt.Errorf("%w: isolation %q", hypercore.ErrInvalid, r.Spec.Isolation)
	}
	if r.ImageRef == "" && (r.Spec.RootFS == "" || len(r.Spec.Process.Args) == 0) {
		return fmt.Errorf("%w: spacecore %q has no image ref and no rootfs/process", hypercore.ErrInvalid, r.Name)
	}
	return nil
}

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// Filter selects records in List; zero fields match everything.
type Filter struct {
	Owner   string
	Name    string
	Desired Desired
	Phase   Phase
}

func (f Filter) match(r *Record) bool {
	return (f.Owner == "" || f.Owner == r.Owner) &&
		(f.Name == "" || f.Name == r.Name) &&
		(f.Desired == "" || f.Desired == r.Desired) &&
		(f.Phase == "" || f.Phase == r.Phase)
}
