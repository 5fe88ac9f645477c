package certsource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The JWS algorithms client assertions are signed with.
const (
	AlgPS256 = "PS256" // RSASSA-PSS with SHA-256: Entra ID's choice for RSA keys
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256 (AD FS, older providers)
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256
)

// ErrNoSigningAlgorithm is matched (errors.Is) by the *AlgorithmError
// ClientAuth returns when the provider accepts none of the algorithms the
// credential's key can sign with.
var ErrNoSigningAlgorithm = errors.New("certsource: the provider accepts no signing algorithm this key can use")

// AlgorithmError says that the provider's
// token_endpoint_auth_signing_alg_values_supported (Offered) holds none of
// the algorithms the key can sign with (Usable). It matches
// ErrNoSigningAlgorithm.
type AlgorithmError struct {
	// KeyType is "RSA" or "EC P-256".
	KeyType string
	// Usable lists what the key can sign with, in order of preference.
	Usable []string
	// Offered is AuthRequest.SigningAlgs as given.
	Offered []string
}

func (e *AlgorithmError) Error() string {
	offered := e.Offered
	if len(offered) > 8 { // a hostile discovery document may list anything
		offered = offered[:8]
	}
	quoted := make([]string, len(offered))
	for i, a := range offered {
		if len(a) > 24 {
			a = a[:24] + "…"
		}
		quoted[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf("certsource: the provider accepts client assertions signed with [%s], none of which an %s key can sign (%s)",
		strings.Join(quoted, " "), e.KeyType, strings.Join(e.Usable, ", "))
}

// Is reports whether target is ErrNoSigningAlgorithm.
func (e *AlgorithmError) Is(target error) bool { return target == ErrNoSigningAlgorithm }

// keyKind describes what a supported private key can sign with.
type keyKind struct {
	name string   // for errors and logs
	algs []string // in order of preference
}

// kindOf checks that key is one this package signs with: RSA (at least 2048
// bits) or ECDSA on P-256.
func kindOf(key crypto.Signer, rs256First bool) (keyKind, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N == nil || k.N.BitLen() < 2048 {
			return keyKind{}, &parseError{"the RSA key is shorter than 2048 bits"}
		}
		if rs256First {
			return keyKind{"RSA", []string{AlgRS256, AlgPS256}}, nil
		}
		return keyKind{"RSA", []string{AlgPS256, AlgRS256}}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return keyKind{}, &parseError{fmt.Sprintf("the EC key is on curve %s: only P-256 (ES256) is supported", k.Curve.Params().Name)}
		}
		return keyKind{"EC P-256", []string{AlgES256}}, nil
	case nil:
		return keyKind{}, &parseError{"no private key was given"}
	default:
		return keyKind{}, &parseError{fmt.Sprintf("the key type %T is not supported (RSA or EC P-256)", key)}
	}
}

// choose returns the algorithm to sign with for a provider that accepts
// offered (empty: no preference stated, the key's first choice).
func (k keyKind) choose(offered []string) (string, error) {
	if len(offered) == 0 {
		return k.algs[0], nil
	}
	for _, a := range k.algs {
		if slices.Contains(offered, a) {
			return a, nil
		}
	}
	return "", &AlgorithmError{KeyType: k.name, Usable: slices.Clone(k.algs), Offered: slices.Clone(offered)}
}
