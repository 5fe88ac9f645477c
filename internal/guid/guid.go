// Package guid makes random (version 4) GUIDs for correlation ids and JWT ids.
package guid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random version 4 GUID in its 8-4-4-4-12 form.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
