package syndicate

import (
	"crypto/sha256"
	"encoding/json"

	"github.com/hangarvm/hangar/internal/chunks"
)

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }

func sum(data []byte) chunks.Digest { return sha256.Sum256(data) }
