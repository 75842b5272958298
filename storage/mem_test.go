package storage_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wrxlabs/wrx/storage"
	"github.com/wrxlabs/wrx/storage/storagetest"
)

var memSeq atomic.Int64

// memURI hands out a fresh in-memory store name and forgets it when t ends.
func memURI(t *testing.T) string {
	name := fmt.Sprintf("%s-%d", t.Name(), memSeq.Add(1))
	t.Cleanup(func() { storage.DeleteMem(name) })
	return "mem:" + name
}

func TestMemConformance(t *testing.T) {
	storagetest.Run(t, memURI)
}
