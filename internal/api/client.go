package api

import (
	"context"
	"crypto/ed25519"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/vistara-labs/vimana/api/vimana/v1/vimanav1connect"
)

// Client is the Go client the CLI uses.
type Client struct {
	Spacecores vimanav1connect.SpacecoreServiceClient
	Node       vimanav1connect.NodeServiceClient
	Leases     vimanav1connect.LeaseServiceClient
}

// h2c makes a transport speak cleartext HTTP/2 only (the node serves it
// on TCP and on the socket): bidirectional streams (ExecStream) need it,
// and one connection then multiplexes every call.
func h2c(t *http.Transport) *http.Transport {
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

// DialUnix talks to the node's local admin socket.
func DialUnix(socket string) *Client {
	hc := &http.Client{Transport: h2c(&http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	})}
	return newClient(hc, "http://vimana.sock")
}

// DialTCP talks to a node API at baseURL (e.g. http://127.0.0.1:7740),
// signing every request with key.
func DialTCP(baseURL string, key ed25519.PrivateKey) *Client {
	hc := &http.Client{Transport: h2c(&http.Transport{ResponseHeaderTimeout: 0, IdleConnTimeout: 90 * time.Second})}
	return newClient(hc, baseURL, connect.WithInterceptors(SignInterceptor(key, nil)))
}

func newClient(hc *http.Client, base string, opts ...connect.ClientOption) *Client {
	return &Client{
		Spacecores: vimanav1connect.NewSpacecoreServiceClient(hc, base, opts...),
		Node:       vimanav1connect.NewNodeServiceClient(hc, base, opts...),
		Leases:     vimanav1connect.NewLeaseServiceClient(hc, base, opts...),
	}
}
