package market

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"

	"github.com/vistara-labs/vimana/internal/merkle"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// Storage deals (docs/storage.md "Deals, audits, repair"): an owner pays
// providers per MiB of piece per block to hold the pieces of an object's
// segments; the chain audits single Merkle leaves, slashes providers that
// miss or fail, and flags deals whose segments fall below their repair
// threshold so a repair worker re-places the lost pieces.

// Storage message types.
const (
	TypeStorageDeal      = "storage.deal"
	TypeAuditProof       = "storage.audit_proof"
	TypeRepairDeal       = "storage.repair"
	TypeCloseStorageDeal = "storage.close"
)

// Storage event types.
const (
	EventDeal  = "storage.deal"  // action=created|renewed|expired|closed|repair_needed|repaired|piece_moved
	EventAudit = "storage.audit" // action=challenge|passed|failed
)

// Deal states and audit failure reasons.
const (
	DealActive  = "active"
	DealExpired = "expired" // reached its expiry height
	DealClosed  = "closed"  // ended early by its owner (CloseStorageDeal)

	ReasonMissed   = "MISSED"    // no proof within the audit window
	ReasonBadProof = "BAD_PROOF" // a proof that does not verify
)

// ReceiptDomain separates piece receipts from other uses of a provider's
// key.
const ReceiptDomain = "vimana/receipt/v1"

// ReceiptBytes is what a provider signs when it accepts a piece for a
// deal (internal/storage/piecestore): the chain checks it in RepairDeal.
func ReceiptBytes(deal, piece string, size uint64) []byte {
	b := make([]byte, 0, len(deal)+len(piece)+10)
	b = append(b, deal...)
	b = append(b, '\n')
	b = append(b, piece...)
	b = append(b, '\n')
	return binary.BigEndian.AppendUint64(b, size)
}

// DealPieceMsg is one piece in a StorageDeal: its content address, Merkle
// root, and the index of its provider in StorageDeal.Providers.
type DealPieceMsg struct {
	ID       string `json:"id"`
	Root     []byte `json:"root"`
	Provider uint32 `json:"p"`
}

// DealSegmentMsg is one segment: k+m pieces of Size bytes each.
type DealSegmentMsg struct {
	Size   uint64         `json:"size"`
	Pieces []DealPieceMsg `json:"pieces"`
}

// StorageDeal opens a storage deal: Deposit goes to escrow, which must
// cover every piece at PricePerMiB per started MiB per block until Expiry.
// The deal's ID is DealID(owner, Object), so a client knows it before
// encoding and uploads its pieces under it first; an owner has one deal
// per Object.
type StorageDeal struct {
	Object      []byte           `json:"object"` // the client's 32-byte object reference (opaque to the chain; unique per owner)
	K           uint32           `json:"k"`
	M           uint32           `json:"m"`
	RepairAt    uint32           `json:"repair_at,omitempty"` // flag when a segment has fewer healthy pieces; 0 = k+m
	PricePerMiB uint64           `json:"price_per_mib"`       // uvis per started MiB of piece per block
	Expiry      int64            `json:"expiry"`              // height
	Deposit     uint64           `json:"deposit"`
	Providers   []wallet.Address `json:"providers"`
	Segments    []DealSegmentMsg `json:"segments"`
}

// AuditProof answers a challenge: the leaf's bytes and its Merkle path.
type AuditProof struct {
	Deal    string   `json:"deal"`
	Segment uint32   `json:"segment"`
	Piece   uint32   `json:"piece"`
	Leaf    uint64   `json:"leaf"`
	Data    []byte   `json:"data"`
	Path    [][]byte `json:"path"`
}

// RepairDeal moves a piece to Provider, which signed a receipt for it
// (ReceiptBytes(deal, piece id, size)). The deal owner may move any
// piece; anyone else (a repair worker) only a piece that is unhealthy.
// Rebuilt pieces are byte-identical (Reed-Solomon is deterministic), so
// the piece's id and root do not change.
type RepairDeal struct {
	Deal      string         `json:"deal"`
	Segment   uint32         `json:"segment"`
	Piece     uint32         `json:"piece"`
	Provider  wallet.Address `json:"provider"`
	Key       []byte         `json:"key"` // the new provider's ed25519 public key
	Signature []byte         `json:"signature"`
}

// CloseStorageDeal ends the sender's deal now: its providers are paid up
// to the current height, the rest of the escrow goes back to the owner,
// the providers' storage frees and audits stop — what expiry does, early.
// Clients send it when the last index entry naming the deal goes away
// (a delete or an overwrite).
type CloseStorageDeal struct {
	Deal string `json:"deal"`
}

// StoredPiece is a piece of a deal in state.
type StoredPiece struct {
	ID       string         `json:"id"`
	Root     []byte         `json:"root"`
	Provider wallet.Address `json:"provider"`
	Failed   bool           `json:"failed,omitempty"` // failed an audit; not paid until repaired
	Passed   uint64         `json:"passed,omitempty"` // audits passed
}

// DealSegment is a segment of a deal in state.
type DealSegment struct {
	Size   uint64        `json:"size"`
	Pieces []StoredPiece `json:"pieces"`
}

// Deal is a storage deal in state.
type Deal struct {
	ID          string         `json:"id"`
	Owner       wallet.Address `json:"owner"`
	Object      []byte         `json:"object"`
	K           uint32         `json:"k"`
	M           uint32         `json:"m"`
	RepairAt    uint32         `json:"repair_at"`
	PricePerMiB uint64         `json:"price_per_mib"`
	Expiry      int64          `json:"expiry"`
	Escrow      uint64         `json:"escrow"`
	Paid        uint64         `json:"paid"`                  // to providers
	RepairPaid  uint64         `json:"repair_paid,omitempty"` // to repair workers
	SettledAt   int64          `json:"settled_at"`
	Created     int64          `json:"created"`
	State       string         `json:"state"`
	Ended       int64          `json:"ended,omitempty"`  // height it expired or was closed
	Refund      uint64         `json:"refund,omitempty"` // escrow returned to the owner when it ended
	Repair      bool           `json:"repair,omitempty"` // a segment is below RepairAt
	Segments    []DealSegment  `json:"segments"`
}

// Challenge is an open audit: the provider must prove Leaf of the piece by
// height Due.
type Challenge struct {
	Deal     string         `json:"deal"`
	Segment  uint32         `json:"segment"`
	Piece    uint32         `json:"piece"`
	Leaf     uint64         `json:"leaf"`
	Provider wallet.Address `json:"provider"`
	PieceID  string         `json:"piece_id"`
	Height   int64          `json:"height"`
	Due      int64          `json:"due"`
}

// Key names the challenge (one per piece at a time).
func (c *Challenge) Key() string { return challengeName(c.Deal, c.Segment, c.Piece) }

func challengeName(deal string, seg, piece uint32) string {
	return deal + "/" + utoa(uint64(seg)) + "/" + utoa(uint64(piece))
}

const (
	maxDealSegments = 48 // with MaxDealTxBytes in the app
	maxDealPieces   = 64 // k+m
	maxPieceSize    = 1 << 30
	mib             = 1 << 20
)

func validPieceID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate implements Msg.
func (m *StorageDeal) Validate() error {
	n := m.K + m.M
	switch {
	case len(m.Object) != 32:
		return fmt.Errorf("object: want a 32-byte root")
	case m.K < 1 || n > maxDealPieces || n < m.K:
		return fmt.Errorf("k=%d m=%d: want k ≥ 1 and k+m ≤ %d", m.K, m.M, maxDealPieces)
	case m.RepairAt != 0 && (m.RepairAt < m.K || m.RepairAt > n):
		return fmt.Errorf("repair_at %d: want k..k+m", m.RepairAt)
	case m.PricePerMiB == 0:
		return fmt.Errorf("price_per_mib must be positive")
	case m.Expiry <= 0:
		return fmt.Errorf("expiry must be a height")
	case m.Deposit == 0:
		return fmt.Errorf("deposit must be positive")
	case len(m.Providers) == 0 || len(m.Providers) > maxDealPieces:
		return fmt.Errorf("providers: want 1..%d", maxDealPieces)
	case len(m.Segments) == 0 || len(m.Segments) > maxDealSegments:
		return fmt.Errorf("segments: want 1..%d", maxDealSegments)
	}
	for i, p := range m.Providers {
		if p.IsZero() || slices.Contains(m.Providers[:i], p) {
			return fmt.Errorf("providers: zero or duplicate address %s", p)
		}
	}
	for si, s := range m.Segments {
		if s.Size == 0 || s.Size > maxPieceSize {
			return fmt.Errorf("segment %d: piece size %d: want 1..%d", si, s.Size, maxPieceSize)
		}
		if uint32(len(s.Pieces)) != n {
			return fmt.Errorf("segment %d: %d pieces, want k+m = %d", si, len(s.Pieces), n)
		}
		var seen []uint32
		for pi, p := range s.Pieces {
			switch {
			case !validPieceID(p.ID):
				return fmt.Errorf("segment %d piece %d: id: want 64 lowercase hex digits", si, pi)
			case len(p.Root) != merkle.HashSize:
				return fmt.Errorf("segment %d piece %d: root: want %d bytes", si, pi, merkle.HashSize)
			case hex.EncodeToString(p.Root) != p.ID:
				// The audit root is the piece's BLAKE3 hash, which is its id
				// (internal/merkle). Any other root would fail the audits of
				// providers holding exactly the piece they were given, and
				// slash them to the owner's profit.
				return fmt.Errorf("segment %d piece %d: root: must be the piece id's bytes (its BLAKE3 hash)", si, pi)
			case int(p.Provider) >= len(m.Providers):
				return fmt.Errorf("segment %d piece %d: provider index %d out of range", si, pi, p.Provider)
			case slices.Contains(seen, p.Provider):
				return fmt.Errorf("segment %d: two pieces on provider %d: pieces of a segment need distinct providers", si, p.Provider)
			}
			seen = append(seen, p.Provider)
		}
	}
	return nil
}

// Debit implements Msg.
func (m *StorageDeal) Debit() uint64 { return m.Deposit }

// Validate implements Msg.
func (m *AuditProof) Validate() error {
	switch {
	case !ValidID(m.Deal):
		return fmt.Errorf("deal %q: not a deal id", m.Deal)
	case len(m.Data) > merkle.LeafSize:
		return fmt.Errorf("data: at most %d bytes", merkle.LeafSize)
	case len(m.Path) > merkle.MaxDepth:
		return fmt.Errorf("path: at most %d nodes", merkle.MaxDepth)
	}
	for _, n := range m.Path {
		if len(n) != merkle.HashSize {
			return fmt.Errorf("path: nodes are %d bytes", merkle.HashSize)
		}
	}
	return nil
}

// Debit implements Msg.
func (*AuditProof) Debit() uint64 { return 0 }

// Validate implements Msg.
func (m *RepairDeal) Validate() error {
	switch {
	case !ValidID(m.Deal):
		return fmt.Errorf("deal %q: not a deal id", m.Deal)
	case m.Provider.IsZero():
		return fmt.Errorf("provider: zero address")
	case len(m.Key) != 32 || wallet.AddressOf(m.Key) != m.Provider:
		return fmt.Errorf("key: not the provider's ed25519 public key")
	case len(m.Signature) != 64:
		return fmt.Errorf("signature: want 64 bytes")
	}
	return nil
}

// Debit implements Msg.
func (*RepairDeal) Debit() uint64 { return 0 }

// Validate implements Msg.
func (m *CloseStorageDeal) Validate() error {
	if !ValidID(m.Deal) {
		return fmt.Errorf("deal %q: not a deal id", m.Deal)
	}
	return nil
}

// Debit implements Msg.
func (*CloseStorageDeal) Debit() uint64 { return 0 }

// pieceRate is what one piece of size bytes costs per block.
func pieceRate(price, size uint64) (uint64, bool) {
	hi, lo := bits.Mul64(price, (size+mib-1)/mib)
	return lo, hi == 0
}

// healthy reports whether a piece counts toward its segment: not failed
// and held by an active provider.
func healthy(s *store, p *StoredPiece) bool {
	if p.Failed {
		return false
	}
	pr, ok := s.provider(p.Provider)
	return ok && pr.Status == ProviderActive
}
