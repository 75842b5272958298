package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/model/bert"
	"github.com/wrxlabs/wrx/shardstore"
)

func tokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "tokenize",
		Usage:     "print the WordPiece tokens and ids of a text",
		ArgsUsage: "TEXT",
		Description: `Prints {"tokens":[...],"input_ids":[...],"token_type_ids":[...]}: tokens are the
WordPiece pieces before truncation; ids and type ids are what the model sees
([CLS] text [SEP] pair [SEP], truncated longest-first to --max-len, a pair
as Hugging Face's Rust tokenizer cuts it, or with --truncation python as the
slow Python BertTokenizer does). Text without tokens gives [CLS] [SEP].`,
		Flags: []cli.Flag{modelFlag, storeFlag, maxLenFlag, truncationFlag,
			&cli.StringFlag{Name: "pair", Usage: "second sentence of a pair"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("tokenize takes exactly one TEXT argument, got %d", c.NArg())
			}
			trunc, err := truncation(c)
			if err != nil {
				return err
			}
			tok, err := loadTokenizer(c)
			if err != nil {
				return err
			}
			if trunc != bert.TruncateRust { // as wrx.Options.Truncation
				if tok, err = tok.WithTruncation(trunc); err != nil {
					return err
				}
			}
			enc, err := tok.EncodeWith(c.Args().First(), c.String("pair"), bert.EncodeOptions{MaxLen: c.Int("max-len"), AllowEmpty: true})
			if err != nil {
				return err
			}
			b, err := json.Marshal(struct {
				Tokens       []string `json:"tokens"`
				InputIDs     []int    `json:"input_ids"`
				TokenTypeIDs []int    `json:"token_type_ids"`
			}{nonNil(enc.Tokens), enc.InputIDs, enc.TokenTypeIDs})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
			return err
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// loadTokenizer reads the tokenizer of --model, or of --store's manifest.
func loadTokenizer(c *cli.Context) (*bert.Tokenizer, error) {
	if uri := c.String("store"); uri != "" {
		s, err := shardstore.OpenURI(c.Context, uri)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.Tokenizer()
	}
	dir, err := modelDir(c)
	if err != nil {
		return nil, err
	}
	return bert.LoadTokenizer(dir)
}
