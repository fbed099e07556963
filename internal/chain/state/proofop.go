package state

import (
	"bytes"
	"errors"
	"fmt"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/cometbft/cometbft/crypto/merkle"
)

// ProofOpType names this tree's proofs in CometBFT ProofOps.
const ProofOpType = "vimana:smt/v1"

// ProofOp is a merkle.ProofOperator: run with one argument (the value) it
// proves the key present with that value; run with none it proves the key
// absent. Either way its output is the root, which CometBFT's proof
// runtime compares with the app hash.
type ProofOp struct {
	Key   []byte
	Proof Proof
}

var _ merkle.ProofOperator = ProofOp{}

// Run implements merkle.ProofOperator.
func (op ProofOp) Run(args [][]byte) ([][]byte, error) {
	var (
		root Hash
		err  error
	)
	switch len(args) {
	case 0:
		root, err = op.Proof.ComputeRoot(op.Key, nil, false)
	case 1:
		root, err = op.Proof.ComputeRoot(op.Key, args[0], true)
	default:
		return nil, fmt.Errorf("%w: %d values for one key", ErrProof, len(args))
	}
	if err != nil {
		return nil, err
	}
	return [][]byte{root[:]}, nil
}

// GetKey implements merkle.ProofOperator.
func (op ProofOp) GetKey() []byte { return op.Key }

// ProofOp implements merkle.ProofOperator.
func (op ProofOp) ProofOp() cmtcrypto.ProofOp {
	return cmtcrypto.ProofOp{Type: ProofOpType, Key: bytes.Clone(op.Key), Data: op.Proof.Encode()}
}

// DecodeProofOp is the merkle.OpDecoder for ProofOpType.
func DecodeProofOp(pop cmtcrypto.ProofOp) (merkle.ProofOperator, error) {
	if pop.Type != ProofOpType {
		return nil, fmt.Errorf("%w: op type %q, want %q", ErrProof, pop.Type, ProofOpType)
	}
	p, err := DecodeProof(pop.Data)
	if err != nil {
		return nil, err
	}
	return ProofOp{Key: pop.Key, Proof: p}, nil
}

// ProofRuntime is a CometBFT proof runtime that knows this tree's ops.
func ProofRuntime() *merkle.ProofRuntime {
	prt := merkle.NewProofRuntime()
	prt.RegisterOpDecoder(ProofOpType, DecodeProofOp)
	return prt
}

// KeyPathOf is the CometBFT key path ("/x:<hex>") naming key for
// ProofRuntime.Verify.
func KeyPathOf(key []byte) string {
	return merkle.KeyPath{}.AppendKey(key, merkle.KeyEncodingHex).String()
}

// VerifyOps checks CometBFT ProofOps for key against root: key has value
// when exists, else key is absent. The ops must be exactly one of ours.
func VerifyOps(ops *cmtcrypto.ProofOps, root, key, value []byte, exists bool) error {
	if ops == nil || len(ops.Ops) != 1 || ops.Ops[0].Type != ProofOpType {
		return fmt.Errorf("%w: want one %s op", ErrProof, ProofOpType)
	}
	prt := ProofRuntime()
	var err error
	if exists {
		err = prt.VerifyValue(ops, root, KeyPathOf(key), value)
	} else {
		err = prt.VerifyAbsence(ops, root, KeyPathOf(key))
	}
	if err != nil && !errors.Is(err, ErrProof) {
		err = fmt.Errorf("%w: %v", ErrProof, err)
	}
	return err
}
