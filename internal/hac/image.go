package hac

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Local image sources. Anything else in image.ref is a registry reference.
const (
	PrefixLayout  = "oci-layout:"     // oci-layout:DIR[:TAG]
	PrefixArchive = "docker-archive:" // docker-archive:FILE
)

var userRE = regexp.MustCompile(`^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]{0,31})(:([0-9]+|[A-Za-z_][A-Za-z0-9_.-]{0,31}))?$`)

func (b *builder) image(s *Spec, file string) {
	im := Image{Ref: b.str("image.ref"), Command: b.strs("image.command"), Args: b.strs("image.args"),
		Env: b.strMap("image.env"), Workdir: b.str("image.workdir"), User: b.str("image.user")}
	if _, ok := b.get("image.ref"); !ok {
		b.add("image.ref", "missing; add [image] ref = \"oci-layout:DIR:TAG\" or a registry reference like \"registry.example/app:1.0\"")
	} else if err := checkRef(im.Ref); err != nil {
		b.add("image.ref", "%v", err)
	}
	im.Ref = resolveRef(im.Ref, file)
	for _, k := range sortedKeys(toAnyMap(im.Env)) {
		if !envKeyRE.MatchString(k) {
			b.addKey("image.env."+k, "%q is not a valid environment variable name", k)
		}
	}
	if im.Workdir != "" && !path.IsAbs(im.Workdir) {
		b.add("image.workdir", "%q must be an absolute path", im.Workdir)
	}
	if im.User != "" && !userRE.MatchString(im.User) {
		b.add("image.user", "%q: want user[:group], each a numeric id or a name from the image's /etc/passwd", im.User)
	}
	if c, ok := b.get("image.command"); ok && len(toStrings(c)) == 0 {
		b.add("image.command", "must not be empty (leave it out to use the image's entrypoint)")
	}
	s.Image = im
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// checkRef checks the syntax of an image reference; local paths are not
// looked at (the file may be validated on another machine).
func checkRef(ref string) error {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return fmt.Errorf("%q: want a reference without surrounding blanks", ref)
	}
	for _, prefix := range []string{PrefixLayout, PrefixArchive} {
		if rest, ok := strings.CutPrefix(ref, prefix); ok {
			if dir, _ := splitLayout(rest); rest == "" || dir == "" && prefix == PrefixLayout {
				return fmt.Errorf("%q: want a path after %q", ref, prefix)
			}
			return nil
		}
	}
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "~") {
		return fmt.Errorf("%q looks like a path; write %s%s for an OCI layout directory or %s%s for a docker save tarball", ref, PrefixLayout, ref, PrefixArchive, ref)
	}
	// A reference without a tag means :latest, as with docker.
	if _, err := name.ParseReference(ref); err != nil {
		msg := fmt.Sprintf("%q is not an image reference (want e.g. 127.0.0.1:5000/app:1.0, app@sha256:<64 hex>, %sDIR[:TAG] or %sFILE)", ref, PrefixLayout, PrefixArchive)
		if why := err.Error(); !strings.HasPrefix(why, "could not parse reference") {
			msg += ": " + why
		}
		return errors.New(msg)
	}
	return nil
}

// splitLayout splits "DIR[:TAG]"; a last ':' followed by '/' belongs to
// DIR (the same rule internal/image applies).
func splitLayout(spec string) (dir, tag string) {
	if i := strings.LastIndexByte(spec, ':'); i >= 0 && !strings.Contains(spec[i+1:], "/") {
		return spec[:i], spec[i+1:]
	}
	return spec, ""
}

// resolveRef makes oci-layout:/docker-archive: paths absolute, relative to
// the hac.toml's directory, keeping an oci-layout tag. Paths are not
// checked here.
func resolveRef(ref, file string) string {
	for _, prefix := range []string{PrefixLayout, PrefixArchive} {
		rest, ok := strings.CutPrefix(ref, prefix)
		if !ok || rest == "" {
			continue
		}
		p, tag := rest, ""
		if prefix == PrefixLayout {
			p, tag = splitLayout(rest)
		}
		if !filepath.IsAbs(p) {
			dir := "."
			if file != "" {
				dir = filepath.Dir(file)
			}
			if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil {
				p = abs
			}
		}
		if tag != "" {
			p += ":" + tag
		}
		return prefix + p
	}
	return ref
}
