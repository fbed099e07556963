package market

import (
	"bytes"
	"testing"
)

func code(err error) uint32 {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}

// TestSetIndex: a pointer is set, replaced only by a higher version,
// kept per sender (a stranger neither overwrites nor clears it), bounded
// in size, bound to the sender's own active deal, and removed by a
// version at least the stored one. Conservation holds throughout (the
// pointer moves no tokens).
func TestSetIndex(t *testing.T) {
	w := newStorageWorld(t)
	owner, stranger := w.tenant, w.provs[0]
	r := Reader{w.kv}
	get := func(name string) *IndexPointer {
		p, _ := Reader{w.kv}.IndexPointer(owner.Address(), name)
		return p
	}
	const name = "0123456789abcdef.bucket"
	w.must(owner, &SetIndex{Name: name, Version: 1, Object: []byte(`{"v":1}`)})
	if p := get(name); p == nil || p.Version != 1 || string(p.Object) != `{"v":1}` || p.Owner != owner.Address().String() || p.Height != w.height {
		t.Fatalf("pointer after set: %+v", p)
	}
	// Version must increase: equal and lower are refused (code 12), the
	// stored pointer stays.
	if err := w.exec(owner, &SetIndex{Name: name, Version: 1, Object: []byte(`{"v":"stale"}`)}); code(err) != CodeState {
		t.Fatalf("version 1 over 1: %v", err)
	}
	w.must(owner, &SetIndex{Name: name, Version: 5, Object: []byte(`{"v":5}`)})
	for _, v := range []uint64{3, 5} {
		if err := w.exec(owner, &SetIndex{Name: name, Version: v, Object: []byte(`{"v":"stale"}`)}); code(err) != CodeState {
			t.Fatalf("version %d over 5: %v", v, err)
		}
	}
	if p := get(name); p.Version != 5 || string(p.Object) != `{"v":5}` {
		t.Fatalf("stale write changed the pointer: %+v", p)
	}

	// Owner isolation: the stranger's pointer of the same name is its
	// own; the stranger cannot clear the owner's.
	w.must(stranger, &SetIndex{Name: name, Version: 1, Object: []byte(`{"other":1}`)})
	if p := get(name); p.Version != 5 || string(p.Object) != `{"v":5}` {
		t.Fatalf("stranger's set changed the owner's pointer: %+v", p)
	}
	w.must(stranger, &SetIndex{Name: name, Version: 1})
	if err := w.exec(stranger, &SetIndex{Name: name, Version: 9}); code(err) != CodeNotFound {
		t.Fatalf("stranger clearing a pointer it does not have: %v", err)
	}
	if p := get(name); p == nil || p.Version != 5 {
		t.Fatalf("owner's pointer after the stranger's removal: %+v", p)
	}
	if ps := r.IndexPointers(stranger.Address()); len(ps) != 0 {
		t.Fatalf("stranger still lists %d pointers", len(ps))
	}

	// Size bound: MaxIndexObject is accepted, one byte more is invalid.
	w.must(owner, &SetIndex{Name: "big.bucket", Version: 1, Object: bytes.Repeat([]byte{'x'}, MaxIndexObject)})
	if err := w.exec(owner, &SetIndex{Name: "big.bucket", Version: 2, Object: bytes.Repeat([]byte{'x'}, MaxIndexObject+1)}); code(err) != CodeInvalid {
		t.Fatalf("oversized object: %v", err)
	}
	for _, m := range []*SetIndex{
		{Name: "", Version: 1, Object: []byte("x")},
		{Name: ".hidden", Version: 1, Object: []byte("x")},
		{Name: "a/b", Version: 1, Object: []byte("x")},
		{Name: "ok", Version: 0, Object: []byte("x")},
		{Name: "ok", Version: 1, Object: []byte("x"), Deal: "../x"},
		{Name: "ok", Version: 1, Deal: "aaaaaaaaaaaaaaaa"}, // a removal with a deal
	} {
		if err := w.exec(owner, m); code(err) != CodeInvalid {
			t.Fatalf("%+v: %v", m, err)
		}
	}

	// The deal must exist, be the sender's and be active.
	dm := w.deal(w.height+20, 18*20)
	w.must(owner, dm)
	d := w.lastDeal()
	if err := w.exec(owner, &SetIndex{Name: "d.bucket", Version: 1, Object: []byte("x"), Deal: "aaaaaaaaaaaaaaaa"}); code(err) != CodeNotFound {
		t.Fatalf("unknown deal: %v", err)
	}
	if err := w.exec(stranger, &SetIndex{Name: "d.bucket", Version: 1, Object: []byte("x"), Deal: d.ID}); code(err) != CodeUnauthorized {
		t.Fatalf("someone else's deal: %v", err)
	}
	w.must(owner, &SetIndex{Name: "d.bucket", Version: 1, Object: []byte("x"), Deal: d.ID})
	if p := get("d.bucket"); p.Deal != d.ID {
		t.Fatalf("deal not kept: %+v", p)
	}
	w.must(owner, &CloseStorageDeal{Deal: d.ID})
	if err := w.exec(owner, &SetIndex{Name: "d.bucket", Version: 2, Object: []byte("x"), Deal: d.ID}); code(err) != CodeState {
		t.Fatalf("closed deal: %v", err)
	}
	w.endBlock()

	// Listing is by name; removal needs a version ≥ the stored one.
	ps := Reader{w.kv}.IndexPointers(owner.Address())
	if len(ps) != 3 || ps[0].Name != name || ps[1].Name != "big.bucket" || ps[2].Name != "d.bucket" {
		t.Fatalf("pointers: %+v", ps)
	}
	if err := w.exec(owner, &SetIndex{Name: name, Version: 4}); code(err) != CodeState {
		t.Fatalf("removal below the stored version: %v", err)
	}
	w.must(owner, &SetIndex{Name: name, Version: 5})
	if get(name) != nil {
		t.Fatal("pointer still there after removal")
	}
	if err := w.exec(owner, &SetIndex{Name: name, Version: 5}); code(err) != CodeNotFound {
		t.Fatalf("second removal: %v", err)
	}
	// A bucket created again after removal starts over at version 1.
	w.must(owner, &SetIndex{Name: name, Version: 1, Object: []byte("again")})
	if ps := (Reader{w.kv}).IndexPointers(owner.Address()); len(ps) != 3 {
		t.Fatalf("pointers after re-creation: %d", len(ps))
	}
	w.endBlock()
}

// TestSetIndexLimit: an owner holds at most MaxIndexPointers pointers;
// replacing one at the limit still works.
func TestSetIndexLimit(t *testing.T) {
	w := newWorld(t, key(t, 1))
	k := key(t, 1)
	for i := range MaxIndexPointers {
		w.must(k, &SetIndex{Name: "b" + utoa(uint64(i)), Version: 1, Object: []byte("x")})
	}
	if err := w.exec(k, &SetIndex{Name: "one-more", Version: 1, Object: []byte("x")}); code(err) != CodeState {
		t.Fatalf("pointer past the limit: %v", err)
	}
	w.must(k, &SetIndex{Name: "b0", Version: 2, Object: []byte("y")})
	w.endBlock()
}
