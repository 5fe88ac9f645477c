package session

import (
	"testing"
	"time"
)

func TestFastCodecRoundTrip(t *testing.T) {
	c := fastCodec{}
	dl := time.Unix(1_700_000_000, 123)
	in := map[string]interface{}{"a": "x", "b": []byte{0, 1, 2}, "": ""}
	b, err := c.Encode(dl, in)
	if err != nil || b[0] != codecFast {
		t.Fatal(err)
	}
	gotDL, out, err := c.Decode(b)
	if err != nil || !gotDL.Equal(dl) || out["a"] != "x" || string(out["b"].([]byte)) != "\x00\x01\x02" || len(out) != 3 {
		t.Fatalf("%v %v %v", gotDL, out, err)
	}
	// Other types go through gob, and still decode.
	in["n"] = 42
	b, _ = c.Encode(dl, in)
	if b[0] != codecGob {
		t.Fatal("an int was not sent to gob")
	}
	if _, out, err := c.Decode(b); err != nil || out["n"] != 42 {
		t.Fatalf("gob fallback: %v %v", out, err)
	}
}

func FuzzFastCodecDecode(f *testing.F) {
	b, _ := fastCodec{}.Encode(time.Now(), map[string]interface{}{"k": "v", "p": []byte("x")})
	f.Add(b)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		fastCodec{}.Decode(b)
	})
}
