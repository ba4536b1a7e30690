package card

import (
	"encoding/asn1"
	"math/big"
)

func marshalECDSA(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}
