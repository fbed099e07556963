package app

// Codespace is reported with every non-zero result code.
const Codespace = "vimana"

// Result codes of CheckTx and FinalizeBlock. They are part of the protocol:
// never renumber.
const (
	CodeOK                uint32 = 0
	CodeDecode            uint32 = 1 // malformed, non-canonical or unknown fields
	CodeTooLarge          uint32 = 2 // over MaxTxBytes
	CodeWrongChain        uint32 = 3 // chain_id is not this chain's
	CodeBadSignature      uint32 = 4
	CodeBadNonce          uint32 = 5 // replayed or out of order
	CodeInsufficientFunds uint32 = 6
	CodeFeeTooLow         uint32 = 7
	CodeInvalid           uint32 = 8 // well-formed but meaningless (zero amount, overflow)
	CodeUnknownQuery      uint32 = 9
)

// Market result codes (internal/market shares this codespace).
const (
	CodeNotFound     uint32 = 10
	CodeUnauthorized uint32 = 11
	CodeState        uint32 = 12 // not allowed in the current state
	CodeCapacity     uint32 = 13 // the provider cannot serve the order
)
