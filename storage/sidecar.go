package storage

import (
	"context"
	"errors"
	"fmt"
)

// Limits on sidecars, which are for small metadata, not blobs.
const (
	// MaxSidecarNameLen is the longest sidecar name, in bytes.
	MaxSidecarNameLen = 64
	// MaxSidecarSize is the largest sidecar, in bytes.
	MaxSidecarSize = 16 << 20
)

// SidecarDriver is an optional capability of a [Driver]: small, named,
// mutable files kept beside a committed store, for metadata such as device
// profiles that must not be written by rewriting the immutable store.
// Callers use it through [WriteSidecar], [ReadSidecar] and [SidecarNames],
// which check names and sizes before a driver sees them.
//
// Implementations must:
//
//   - refuse, with an error wrapping fs.ErrNotExist, a location that holds
//     no committed store;
//   - replace a sidecar atomically: a reader, or a crash, sees the previous
//     version or the new one, never part of one; writers of different
//     names, in one process or several, do not disturb each other, and of
//     concurrent writers of one name one whole version wins;
//   - leave the store's blobs untouched and readable, by handles open
//     during the write too;
//   - drop the sidecars when the store is replaced (CreateOptions.Overwrite),
//     since they describe the store they were written for.
type SidecarDriver interface {
	// WriteSidecar creates or replaces the sidecar name of the store at
	// location with a copy of data.
	WriteSidecar(ctx context.Context, location, name string, data []byte) error
	// ReadSidecar returns a copy of the sidecar name of the store at
	// location, or an error wrapping [ErrNotFound] if there is none.
	ReadSidecar(ctx context.Context, location, name string) ([]byte, error)
	// SidecarNames lists, sorted, the sidecars of the store at location.
	SidecarNames(ctx context.Context, location string) ([]string, error)
}

// CheckSidecarName reports whether name can name a sidecar: 1 to
// [MaxSidecarNameLen] bytes of lower-case ASCII letters, digits, '.', '_'
// and '-', starting with a letter or digit. The rule keeps names valid and
// distinct as file names on every platform, and out of the way of
// temporary files (which start with '.').
func CheckSidecarName(name string) error {
	if name == "" {
		return errors.New("storage: empty sidecar name")
	}
	if len(name) > MaxSidecarNameLen {
		return fmt.Errorf("storage: sidecar name %.20q... is %d bytes, longer than %d", name, len(name), MaxSidecarNameLen)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("storage: sidecar name %q: want lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", name)
		}
	}
	return nil
}

// sidecarDriver returns the driver of uri and the location, or an error
// wrapping errors.ErrUnsupported if the driver keeps no sidecars.
func sidecarDriver(uri string) (SidecarDriver, string, error) {
	d, loc, err := driverFor(uri)
	if err != nil {
		return nil, "", err
	}
	sd, ok := d.(SidecarDriver)
	if !ok {
		return nil, "", fmt.Errorf("storage: the driver for %s keeps no sidecars: %w", uri, errors.ErrUnsupported)
	}
	return sd, loc, nil
}

// WriteSidecar creates or replaces the sidecar name of the committed store
// at uri with data, atomically (see [SidecarDriver]). The store itself is
// not touched. It fails with an error wrapping fs.ErrNotExist if uri holds
// no store, and errors.ErrUnsupported if its driver keeps no sidecars.
func WriteSidecar(ctx context.Context, uri, name string, data []byte) error {
	if err := CheckSidecarName(name); err != nil {
		return fmt.Errorf("storage: write sidecar of %s: %w", uri, err)
	}
	if len(data) > MaxSidecarSize {
		return fmt.Errorf("storage: write sidecar %q of %s: %d bytes is more than the %d-byte limit", name, uri, len(data), MaxSidecarSize)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: write sidecar %q of %s: %w", name, uri, err)
	}
	d, loc, err := sidecarDriver(uri)
	if err != nil {
		return err
	}
	if err := d.WriteSidecar(ctx, loc, name, data); err != nil {
		return fmt.Errorf("storage: write sidecar %q of %s: %w", name, uri, err)
	}
	return nil
}

// ReadSidecar returns the sidecar name of the committed store at uri. A
// missing sidecar gives an error wrapping [ErrNotFound]; a missing store
// one wrapping fs.ErrNotExist.
func ReadSidecar(ctx context.Context, uri, name string) ([]byte, error) {
	if err := CheckSidecarName(name); err != nil {
		return nil, fmt.Errorf("storage: read sidecar of %s: %w", uri, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: read sidecar %q of %s: %w", name, uri, err)
	}
	d, loc, err := sidecarDriver(uri)
	if err != nil {
		return nil, err
	}
	b, err := d.ReadSidecar(ctx, loc, name)
	if err != nil {
		return nil, fmt.Errorf("storage: read sidecar %q of %s: %w", name, uri, err)
	}
	return b, nil
}

// SidecarNames lists, sorted, the sidecars of the committed store at uri;
// an empty list if it has none.
func SidecarNames(ctx context.Context, uri string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: list sidecars of %s: %w", uri, err)
	}
	d, loc, err := sidecarDriver(uri)
	if err != nil {
		return nil, err
	}
	names, err := d.SidecarNames(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("storage: list sidecars of %s: %w", uri, err)
	}
	return names, nil
}
