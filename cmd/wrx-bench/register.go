package main

import (
	_ "github.com/wrxlabs/wrx/backend/gorgonia"
	_ "github.com/wrxlabs/wrx/backend/native"
	_ "github.com/wrxlabs/wrx/storage/badger"
	_ "github.com/wrxlabs/wrx/storage/flatfile"
)
