package s3

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
	"github.com/vistara-labs/vimana/internal/storage/objects"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Credentials are the SigV4 root credentials of the gateway.
type Credentials struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// DeriveCredentials derives the owner's S3 credentials from the wallet
// seed (HMAC-SHA256 with fixed labels): the same key always gets the same
// credentials, and nothing extra has to be stored or backed up.
func DeriveCredentials(seed []byte) Credentials {
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, seed)
		m.Write([]byte("vimana/s3/v1/" + label))
		return m.Sum(nil)
	}
	return Credentials{
		AccessKey: "VIM" + base32.StdEncoding.EncodeToString(mac("access"))[:17],
		SecretKey: base64.RawStdEncoding.EncodeToString(mac("secret"))[:40],
	}
}

// Config is one gateway.
type Config struct {
	Listen  string // host:port; port 0 picks a free one
	Creds   Credentials
	Backend *Backend
	Region  string            // default us-east-1
	Owner   ed25519.PublicKey // grants must be signed by this key
	// Ready, if set, is called with the address once the gateway accepts
	// connections.
	Ready func(addr string)
}

// GrantPath prefixes the read-grant route: GET /_vimana/grant/<token>
// serves the granted object without SigV4 ("_" can't start a bucket name).
const GrantPath = "/_vimana/grant/"

// Serve runs the gateway until ctx ends. versitygw allows one gateway per
// process.
func Serve(ctx context.Context, cfg Config) error {
	addr, err := pickAddr(cfg.Listen)
	if err != nil {
		return err
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	cfg.Backend.owner = cfg.Creds.AccessKey
	opts := []s3api.Option{s3api.WithRoute(fiber.MethodGet, GrantPath+":token", cfg.grantHandler)}
	if cfg.Ready != nil {
		opts = append(opts, s3api.WithOnListen(func() { cfg.Ready(addr) }))
	}
	return embedgw.RunVersityGW(ctx, cfg.Backend, &embedgw.Config{
		RootUserAccess: cfg.Creds.AccessKey,
		RootUserSecret: cfg.Creds.SecretKey,
		// Single account, given explicitly: versitygw's default path
		// prints a notice on stdout (which -o json owns).
		IAMService:        auth.NewIAMServiceSingle(auth.Account{Access: cfg.Creds.AccessKey, Secret: cfg.Creds.SecretKey, Role: auth.RoleAdmin}),
		Region:            region,
		Ports:             []string{addr},
		MaxConnections:    1024,
		MaxRequests:       256,
		MultipartMaxParts: 10000,
		Quiet:             true,
		KeepAlive:         true,
		DisableACLs:       true,
		S3Options:         opts,
	})
}

// pickAddr resolves port 0 to a free port (versitygw binds by address
// and does not report the port it got).
func pickAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("s3: --listen %q: %w", listen, err)
	}
	if port != "0" {
		return listen, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (cfg *Config) grantHandler(c fiber.Ctx) error {
	tok := strings.Clone(c.Params("token"))
	g, err := objects.VerifyGrant(tok, cfg.Owner, time.Now(), wallet.Verify)
	if err != nil {
		return c.Status(fiber.StatusForbidden).SendString(err.Error() + "\n")
	}
	b := cfg.Backend
	e, err := b.C.Stat(context.Background(), g.Bucket, g.Key)
	if errors.Is(err, objects.ErrGrant) || objects.IsNotFound(err) {
		return c.Status(fiber.StatusNotFound).SendString("no such object\n")
	} else if err != nil {
		return c.Status(fiber.StatusInternalServerError).SendString("internal error\n")
	}
	if e.ContentType != "" {
		c.Set(fiber.HeaderContentType, e.ContentType)
	}
	c.Set(fiber.HeaderETag, quote(e.ETag))
	c.RequestCtx().SetBodyStream(&body{read: func(ctx context.Context, w io.Writer) error { return b.C.ReadRange(ctx, g.Bucket, e, w, 0, -1, nil) }}, int(e.Size))
	return nil
}
