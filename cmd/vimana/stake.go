package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/chain/app"
	"github.com/vistara-labs/vimana/internal/hac"
)

// parseValidatorKey accepts an ed25519 consensus public key in hex or
// base64 (as CometBFT prints it in priv_validator_key.json and /validators).
func parseValidatorKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("validator key %q: want a 32-byte ed25519 public key in hex or base64", s)
}

func stakeCmd(use, short, typ string) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use: use + " VALIDATOR_PUBKEY AMOUNT", Short: short, Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseValidatorKey(args[0])
			if err != nil {
				return err
			}
			amt, err := hac.ParseTokens(args[1])
			if err != nil || amt <= 0 {
				return fmt.Errorf("amount %q: want a positive amount like 5vis", args[1])
			}
			k, err := loadKey(from)
			if err != nil {
				return err
			}
			c, err := chainClient()
			if err != nil {
				return err
			}
			var msg app.Msg = &app.Stake{Validator: v, Amount: uint64(amt)}
			if typ == app.TxTypeUnstake {
				msg = &app.Unstake{Validator: v, Amount: uint64(amt)}
			}
			_, res, err := (&chain.Signer{C: c, Key: k}).SubmitAndWait(cmd.Context(), typ, msg, 30*time.Second)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s of %s committed at height %d\n", typ, vis(uint64(amt)), res.Height)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "tenant", "keystore name of the account that bonds")
	cmd.Flags().StringVar(&rpcURL, "rpc", "", "chain RPC URL (default: the devnet in --home, else this node's [chain] rpc_listen)")
	cmd.Flags().StringVar(&passphraseFile, "passphrase-file", "", "file holding the keystore passphrase")
	return cmd
}

func newStakeCmd() *cobra.Command {
	return stakeCmd("stake", "Bond tokens to a validator's consensus key (1 VIS = 1 voting power)", app.TxTypeStake)
}

func newUnstakeCmd() *cobra.Command {
	return stakeCmd("unstake", "Unbond tokens from a validator; they return after the unbonding period", app.TxTypeUnstake)
}

func newValidatorsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "validators", Short: "CometBFT's current validator set (power per consensus key)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := chainClient()
			if err != nil {
				return err
			}
			vals, err := c.Validators(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				Address string `json:"address"`
				PubKey  string `json:"pub_key"`
				Power   int64  `json:"power"`
			}
			var out []row
			var rows [][]string
			for _, v := range vals {
				r := row{Address: v.Address, PubKey: strings.ToUpper(hex.EncodeToString([]byte(v.PubKey))), Power: v.Power}
				out = append(out, r)
				rows = append(rows, []string{r.Address, r.PubKey, fmt.Sprint(r.Power)})
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return printTable(cmd.OutOrStdout(), []string{"ADDRESS", "PUBKEY", "POWER"}, rows)
		},
	}
	cmd.Flags().StringVar(&rpcURL, "rpc", "", "chain RPC URL (default: the devnet in --home, else this node's [chain] rpc_listen)")
	return cmd
}
