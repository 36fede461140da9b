package admin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wotkit/wotkit/storage"
)

// Local runs operations directly on an open store.
type Local struct {
	Store *storage.Store
}

// Call runs op on the store and decodes its result into out (when not nil).
func (l Local) Call(_ context.Context, op string, req Request, out any) error {
	res, err := run(l.Store, op, req)
	if err != nil {
		return err
	}
	return convert(res, out)
}

// convert copies res into out through JSON, as the socket path does, so that
// both paths give the caller the same values.
func convert(res, out any) error {
	if out == nil || res == nil {
		return nil
	}
	data, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	return nil
}
