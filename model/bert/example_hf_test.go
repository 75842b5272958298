package bert_test

import (
	"fmt"
	"path/filepath"

	"github.com/wrxlabs/wrx/model/bert"
)

func ExampleOpenPyTorch() {
	p, err := bert.OpenPyTorch(filepath.Join("testdata", "hf", "bert-bin", bert.PyTorchFile))
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := p.Info("classifier.weight")
	fmt.Println(info.Dtype, info.Shape)
	// Output: F32 [3 64]
}

func ExampleLoadTokenizerJSON() {
	tok, err := bert.LoadTokenizerJSON(filepath.Join("testdata", "hf", "tokenizer", bert.TokenizerJSONFile))
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, _ := tok.Encode("A charming journey", "", 0)
	fmt.Println(enc.Tokens, enc.InputIDs)
	// Output: [a charming journey] [101 1037 11951 4990 102]
}
