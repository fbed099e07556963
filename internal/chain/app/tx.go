package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/bits"

	"github.com/vistara-labs/vimana/internal/market"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// MaxTxBytes bounds an encoded transaction, except a storage deal, which
// may be up to MaxDealTxBytes (it lists every piece of up to 48 segments),
// and an index pointer, up to MaxIndexTxBytes (market.MaxIndexObject of
// metadata, base64); anything larger than MaxDealTxBytes is refused
// before decoding.
const (
	MaxTxBytes      = 4096
	MaxDealTxBytes  = 64 << 10
	MaxIndexTxBytes = 24 << 10
)

// MaxTxBytesOf is the size limit of a transaction of type t.
func MaxTxBytesOf(t string) int {
	switch t {
	case market.TypeStorageDeal:
		return MaxDealTxBytes
	case market.TypeSetIndex:
		return MaxIndexTxBytes
	}
	return MaxTxBytes
}

// SignDomain separates transaction signatures from every other use of a
// wallet key (see wallet.SignBytes).
const SignDomain = "vimana/tx/v1"

// TxTypeTransfer moves tokens between accounts; every other type is a
// market message (market.Types).
const TxTypeTransfer = "transfer"

// Body is what a sender signs: the envelope (chain, sender, nonce, fee)
// and one message whose type names its schema.
type Body struct {
	Type    string          `json:"type"`
	ChainID string          `json:"chain_id"`
	From    []byte          `json:"from"` // ed25519 public key, base64
	Nonce   uint64          `json:"nonce"`
	Fee     uint64          `json:"fee"`
	Msg     json.RawMessage `json:"msg"`
}

// Transfer moves Amount uvis to To.
type Transfer struct {
	To     wallet.Address `json:"to"` // bech32 vis1...
	Amount uint64         `json:"amount"`
}

// Validate checks a transfer without state.
func (m *Transfer) Validate() error {
	switch {
	case m.Amount == 0:
		return fmt.Errorf("amount must be positive")
	case m.To.IsZero():
		return fmt.Errorf("recipient is the zero address")
	}
	return nil
}

// Debit is what the transfer takes from the sender beyond the fee.
func (m *Transfer) Debit() uint64 { return m.Amount }

// Msg is a decoded message: a *Transfer or a market.Msg.
type Msg interface {
	Validate() error
	Debit() uint64
}

// Tx is a signed transaction as carried in blocks: canonical JSON, i.e.
// exactly the bytes encoding/json produces for it, so every transaction
// has one encoding and one hash.
type Tx struct {
	Body      Body   `json:"body"`
	Signature []byte `json:"signature"` // ed25519 over SignBytes(body), base64

	msg Msg // decoded Body.Msg
}

// SignBytes is the message a sender signs: the canonical encoding of the
// body (which includes the chain ID and nonce, for replay protection).
func (b *Body) SignBytes() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("encoding tx body: %v", err)) // unreachable: plain fields
	}
	return out
}

// Sender is the address of the sending account.
func (b *Body) Sender() wallet.Address { return wallet.AddressOf(b.From) }

// Message returns the decoded message.
func (tx *Tx) Message() Msg { return tx.msg }

// Cost is the fee plus what the message debits; ok is false on overflow.
func (tx *Tx) Cost() (uint64, bool) {
	total, carry := bits.Add64(tx.msg.Debit(), tx.Body.Fee, 0)
	return total, carry == 0
}

// NewTx builds and signs a transaction carrying msg of type typ.
func NewTx(k *wallet.Key, chainID, typ string, msg Msg, fee, nonce uint64) *Tx {
	raw, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("encoding %s: %v", typ, err)) // unreachable: plain structs
	}
	body := Body{Type: typ, ChainID: chainID, From: k.PubKey(), Nonce: nonce, Fee: fee, Msg: raw}
	return &Tx{Body: body, Signature: k.Sign(SignDomain, body.SignBytes()), msg: msg}
}

// NewTransfer builds and signs a transfer with k.
func NewTransfer(k *wallet.Key, chainID string, to wallet.Address, amount, fee, nonce uint64) *Tx {
	return NewTx(k, chainID, TxTypeTransfer, &Transfer{To: to, Amount: amount}, fee, nonce)
}

// Encode returns the canonical encoding of tx.
func (tx *Tx) Encode() []byte {
	out, err := json.Marshal(tx)
	if err != nil {
		panic(fmt.Sprintf("encoding tx: %v", err)) // unreachable: plain fields
	}
	return out
}

// newMsg returns an empty message of type t, or nil.
func newMsg(t string) Msg {
	switch t {
	case TxTypeTransfer:
		return &Transfer{}
	case TxTypeStake:
		return &Stake{}
	case TxTypeUnstake:
		return &Unstake{}
	}
	if m := market.New(t); m != nil {
		return m
	}
	return nil
}

// strictDecode decodes raw into v: no unknown fields, no trailing data.
func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// DecodeTx parses a transaction strictly: bounded size, no unknown fields,
// no trailing data, canonical bytes only (envelope and message), a known
// message type, well-formed keys and signature, and a message that passes
// its stateless checks. It does not verify the signature (see
// VerifySignature). The returned code is CodeOK on success.
func DecodeTx(raw []byte) (*Tx, uint32, error) {
	if len(raw) > MaxDealTxBytes {
		return nil, CodeTooLarge, fmt.Errorf("tx is %d bytes, limit %d", len(raw), MaxDealTxBytes)
	}
	var tx Tx
	if err := strictDecode(raw, &tx); err != nil {
		return nil, CodeDecode, fmt.Errorf("decoding tx: %v", err)
	}
	b := &tx.Body
	if limit := MaxTxBytesOf(b.Type); len(raw) > limit {
		return nil, CodeTooLarge, fmt.Errorf("tx is %d bytes, limit %d", len(raw), limit)
	}
	msg := newMsg(b.Type)
	if msg == nil {
		return nil, CodeDecode, fmt.Errorf("unknown tx type %q", b.Type)
	}
	if err := strictDecode(b.Msg, msg); err != nil {
		return nil, CodeDecode, fmt.Errorf("decoding %s: %v", b.Type, err)
	}
	if canon, err := json.Marshal(msg); err != nil || !bytes.Equal(canon, b.Msg) {
		return nil, CodeDecode, fmt.Errorf("decoding %s: not in canonical form", b.Type)
	}
	if !bytes.Equal(tx.Encode(), raw) {
		return nil, CodeDecode, fmt.Errorf("decoding tx: not in canonical form")
	}
	switch {
	case len(b.From) != ed25519.PublicKeySize:
		return nil, CodeDecode, fmt.Errorf("from: %d-byte key, want %d", len(b.From), ed25519.PublicKeySize)
	case len(tx.Signature) != ed25519.SignatureSize:
		return nil, CodeDecode, fmt.Errorf("signature: %d bytes, want %d", len(tx.Signature), ed25519.SignatureSize)
	}
	if err := msg.Validate(); err != nil {
		return nil, CodeInvalid, fmt.Errorf("%s: %v", b.Type, err)
	}
	tx.msg = msg
	return &tx, CodeOK, nil
}

// VerifySignature reports whether the signature is the sender's over the body.
func (tx *Tx) VerifySignature() bool {
	return wallet.Verify(tx.Body.From, SignDomain, tx.Body.SignBytes(), tx.Signature)
}
