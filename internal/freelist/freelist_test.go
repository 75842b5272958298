package freelist

import "testing"

func TestListKeepsUpToMax(t *testing.T) {
	l := List[int]{Max: 2}
	if _, ok := l.Get(); ok {
		t.Fatal("an empty list gave a value")
	}
	l.Put(1)
	l.Put(2)
	l.Put(3) // over Max: dropped
	a, ok1 := l.Get()
	b, ok2 := l.Get()
	_, ok3 := l.Get()
	if !ok1 || !ok2 || ok3 || a != 2 || b != 1 {
		t.Errorf("got %d %v, %d %v, then %v; want 2, 1, then nothing", a, ok1, b, ok2, ok3)
	}
}
