package session

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
)

// fastCodec encodes sessions whose values are all strings or byte slices —
// what identityweb stores — in a small binary format, about 50 times
// cheaper to decode than gob, which scs uses by default and which compiles a
// decoder on every load. Sessions holding other types fall back to gob.
type fastCodec struct{ gob scs.GobCodec }

const (
	codecGob  = 0
	codecFast = 1
)

func (c fastCodec) Encode(deadline time.Time, values map[string]interface{}) ([]byte, error) {
	b := []byte{codecFast}
	b = binary.AppendVarint(b, deadline.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(values)))
	for k, v := range values {
		var kind byte
		var val []byte
		switch x := v.(type) {
		case string:
			kind, val = 's', []byte(x)
		case []byte:
			kind, val = 'b', x
		default:
			g, err := c.gob.Encode(deadline, values)
			if err != nil {
				return nil, err
			}
			return append([]byte{codecGob}, g...), nil
		}
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = append(b, kind)
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = append(b, val...)
	}
	return b, nil
}

var errCodec = errors.New("session: corrupt session data")

func (c fastCodec) Decode(b []byte) (time.Time, map[string]interface{}, error) {
	if len(b) == 0 {
		return time.Time{}, nil, errCodec
	}
	if b[0] == codecGob {
		return c.gob.Decode(b[1:])
	}
	if b[0] != codecFast {
		return c.gob.Decode(b) // data written before this codec
	}
	b = b[1:]
	dl, n := binary.Varint(b)
	if n <= 0 {
		return time.Time{}, nil, errCodec
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > 1<<16 {
		return time.Time{}, nil, errCodec
	}
	b = b[n:]
	// The keys and string values are slices of one copy of the payload: a
	// load costs the map, that copy and one boxed value per entry, however
	// many there are.
	all := string(b)
	off := 0
	next := func() (string, bool) {
		l, n := binary.Uvarint(b[off:])
		if n <= 0 || l > uint64(len(b)-off-n) {
			return "", false
		}
		s := all[off+n : off+n+int(l)]
		off += n + int(l)
		return s, true
	}
	values := make(map[string]interface{}, min(count, uint64(len(b)/3))) // an entry takes 3 bytes at least
	for i := uint64(0); i < count; i++ {
		k, ok := next()
		if !ok || off >= len(b) {
			return time.Time{}, nil, errCodec
		}
		kind := b[off]
		off++
		v, ok := next()
		if !ok {
			return time.Time{}, nil, errCodec
		}
		switch kind {
		case 's':
			values[k] = v
		case 'b':
			values[k] = []byte(v)
		default:
			return time.Time{}, nil, errCodec
		}
	}
	return time.Unix(0, dl), values, nil
}
