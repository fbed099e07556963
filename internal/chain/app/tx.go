package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// MaxTxBytes bounds an encoded transaction; larger ones are refused before
// decoding.
const MaxTxBytes = 1024

// SignDomain separates transaction signatures from every other use of a
// wallet key (see wallet.SignBytes).
const SignDomain = "vimana/tx/v1"

// TxTypeTransfer is the only transaction type so far.
const TxTypeTransfer = "transfer"

// Transfer moves Amount uvis from the account of From to To, paying Fee to
// the block proposer. Nonce must equal the sender's account nonce.
type Transfer struct {
	Type    string         `json:"type"`
	ChainID string         `json:"chain_id"`
	From    []byte         `json:"from"` // ed25519 public key, base64
	To      wallet.Address `json:"to"`   // bech32 vis1...
	Amount  uint64         `json:"amount"`
	Fee     uint64         `json:"fee"`
	Nonce   uint64         `json:"nonce"`
}

// Tx is a signed transaction as carried in blocks: canonical JSON, i.e.
// exactly the bytes encoding/json produces for it, so every transaction
// has one encoding and one hash.
type Tx struct {
	Body      Transfer `json:"body"`
	Signature []byte   `json:"signature"` // ed25519 over SignBytes(body), base64
}

// SignBytes is the message a sender signs: the canonical encoding of the
// body (which includes the chain ID and nonce, for replay protection).
func (b *Transfer) SignBytes() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("encoding transfer: %v", err)) // unreachable: plain fields
	}
	return out
}

// Sender is the address of the sending account.
func (b *Transfer) Sender() wallet.Address { return wallet.AddressOf(b.From) }

// NewTransfer builds and signs a transfer with k.
func NewTransfer(k *wallet.Key, chainID string, to wallet.Address, amount, fee, nonce uint64) *Tx {
	body := Transfer{Type: TxTypeTransfer, ChainID: chainID, From: k.PubKey(), To: to, Amount: amount, Fee: fee, Nonce: nonce}
	return &Tx{Body: body, Signature: k.Sign(SignDomain, body.SignBytes())}
}

// Encode returns the canonical encoding of tx.
func (tx *Tx) Encode() []byte {
	out, err := json.Marshal(tx)
	if err != nil {
		panic(fmt.Sprintf("encoding tx: %v", err)) // unreachable: plain fields
	}
	return out
}

// DecodeTx parses a transaction strictly: bounded size, no unknown fields,
// no trailing data, canonical bytes only, well-formed keys and signature.
// It does not verify the signature (see VerifySignature). The returned code
// is CodeOK on success.
func DecodeTx(raw []byte) (*Tx, uint32, error) {
	if len(raw) > MaxTxBytes {
		return nil, CodeTooLarge, fmt.Errorf("tx is %d bytes, limit %d", len(raw), MaxTxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var tx Tx
	if err := dec.Decode(&tx); err != nil {
		return nil, CodeDecode, fmt.Errorf("decoding tx: %v", err)
	}
	if dec.More() {
		return nil, CodeDecode, fmt.Errorf("decoding tx: trailing data")
	}
	if !bytes.Equal(tx.Encode(), raw) {
		return nil, CodeDecode, fmt.Errorf("decoding tx: not in canonical form")
	}
	b := &tx.Body
	switch {
	case b.Type != TxTypeTransfer:
		return nil, CodeDecode, fmt.Errorf("unknown tx type %q", b.Type)
	case len(b.From) != ed25519.PublicKeySize:
		return nil, CodeDecode, fmt.Errorf("from: %d-byte key, want %d", len(b.From), ed25519.PublicKeySize)
	case len(tx.Signature) != ed25519.SignatureSize:
		return nil, CodeDecode, fmt.Errorf("signature: %d bytes, want %d", len(tx.Signature), ed25519.SignatureSize)
	case b.Amount == 0:
		return nil, CodeInvalid, fmt.Errorf("amount must be positive")
	case b.To.IsZero():
		return nil, CodeInvalid, fmt.Errorf("recipient is the zero address")
	}
	return &tx, CodeOK, nil
}

// VerifySignature reports whether the signature is the sender's over the body.
func (tx *Tx) VerifySignature() bool {
	return wallet.Verify(tx.Body.From, SignDomain, tx.Body.SignBytes(), tx.Signature)
}
