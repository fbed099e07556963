package deptest

import "testing"

// The store's client side (index, objects, S3 gateway) stays a client: it
// never reaches into consensus, the node or workloads, nor the market's
// types (the storage.deal message is built in storage/chainnet, the one
// client package that talks to the chain). Its own table so that the
// branches adding provider-side storage merge without touching
// `forbidden`.
var storeForbidden = map[string][]string{
	"internal/storage/index":    {"internal/chain", "internal/market", "internal/node", "internal/api", "internal/hypercore", "internal/spacecore", "internal/provider", "internal/storage/objects", "internal/s3"},
	"internal/storage/objects":  {"internal/chain", "internal/market", "internal/node", "internal/api", "internal/hypercore", "internal/spacecore", "internal/provider", "internal/s3"},
	"internal/storage/chainnet": {"internal/node", "internal/api", "internal/hypercore", "internal/spacecore", "internal/provider", "internal/s3"},
	"internal/s3":               {"internal/chain", "internal/market", "internal/node", "internal/api", "internal/hypercore", "internal/spacecore", "internal/provider"},
}

func TestStoreLayering(t *testing.T) {
	for _, p := range listPackages(t) {
		for layer, bad := range storeForbidden {
			if !under(p.ImportPath, layer) {
				continue
			}
			for _, d := range p.Deps {
				if under(d, bad...) {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
	}
}
