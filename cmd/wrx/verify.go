package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wrxlabs/wrx/internal/units"
	"github.com/wrxlabs/wrx/shardstore"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check every blob of a shard store against its checksums",
		ArgsUsage: " ",
		Description: `Reads every blob of the store at --store in full and checks the manifest
(format, checksum, and that it lists exactly the blobs the store holds, at
their sizes), every blob against its size and CRC32C, every word embedding
row against its own CRC32C, that the shards decode, and the store's own
structure (a flat-file index and its per-blob checksums). Prints a summary
(--json: the report) and exits with status 1 if anything is damaged.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Required: true, Usage: "shard store `URI` to check (file:PATH or badger:PATH)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("verify takes no arguments, got %q", c.Args().First())
			}
			r, err := shardstore.VerifyURI(c.Context, c.String("store"))
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				for _, p := range r.Problems {
					fmt.Fprintf(w, "DAMAGED\t%s\t%s\n", p.Key, p.Error)
				}
				fmt.Fprintf(w, "%s: %d blobs (%s) and %d word rows read, %d problems\n",
					r.URI, r.Blobs, units.FormatBytes(r.Bytes), r.WordRows, len(r.Problems))
			}
			if !r.OK() {
				return fmt.Errorf("%s is damaged: %d problems", r.URI, len(r.Problems))
			}
			return nil
		},
	}
}
