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
	next := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		s := b[n : n+int(l)]
		b = b[n+int(l):]
		return s, true
	}
	values := make(map[string]interface{}, count)
	for i := uint64(0); i < count; i++ {
		k, ok := next()
		if !ok || len(b) == 0 {
			return time.Time{}, nil, errCodec
		}
		kind := b[0]
		b = b[1:]
		v, ok := next()
		if !ok {
			return time.Time{}, nil, errCodec
		}
		switch kind {
		case 's':
			values[string(k)] = string(v)
		case 'b':
			values[string(k)] = append([]byte(nil), v...)
		default:
			return time.Time{}, nil, errCodec
		}
	}
	return time.Unix(0, dl), values, nil
}
