package certsource

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileOptions configure a File source; the zero value is usable.
type FileOptions struct {
	// Password of a PFX file or an encrypted PEM key.
	Password string
	// PollInterval: how often ClientAuth looks at the file (size and
	// modification time) and reloads it when it changed. Default: 30 s.
	PollInterval time.Duration
	// ExpiryWarning: a certificate this close to its expiry (or past it) is
	// logged at warning level with its thumbprint. Default: 30 days.
	ExpiryWarning time.Duration
	// Certificate options of the assertions.
	Certificate CertificateOptions
	// Clock. Default: the system clock.
	Clock interface{ Now() time.Time }
	// Logger. Default: slog.Default().
	Logger *slog.Logger
}

// File is a certificate credential read from a PEM or PFX file and
// reloaded when the file changes (polled every PollInterval, and at once
// on Reload). A new file replaces the credential atomically; a file that
// does not load — half-written, deleted, corrupt, wrong password, key not
// matching — never replaces a good credential: it is logged and the last
// good one is kept.
type File struct {
	path string
	opts FileOptions

	cur      atomic.Pointer[Certificate]
	mu       sync.Mutex
	lastPoll time.Time
	stamp    fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// NewFile loads path; the first load must succeed.
func NewFile(path string, opts FileOptions) (*File, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	if opts.ExpiryWarning <= 0 {
		opts.ExpiryWarning = 30 * 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = sysClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &File{path: path, opts: opts}
	if err := f.load(context.Background()); err != nil {
		return nil, err
	}
	f.lastPoll = opts.Clock.Now()
	return f, nil
}

type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

func (f *File) load(ctx context.Context) error {
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("certsource: certificate file %s: %w", f.path, err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("certsource: certificate file %s: %w", f.path, err)
	}
	c, err := ParseCertificate(data, f.opts.Password, f.opts.Certificate)
	if err != nil {
		return fmt.Errorf("certsource: certificate file %s: %w", f.path, err)
	}
	f.stamp = fileStamp{size: st.Size(), mod: st.ModTime()}
	old := f.cur.Swap(c)
	if old == nil || old.thumbprint != c.thumbprint {
		f.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "certsource: certificate loaded",
			slog.String("source", f.path), slog.String("sha256", c.thumbprint))
	}
	warnExpiry(ctx, f.opts.Logger, f.path, c, f.opts.Clock.Now(), f.opts.ExpiryWarning)
	return nil
}

// poll reloads the file when it changed, at most once per PollInterval.
func (f *File) poll(ctx context.Context) {
	now := f.opts.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.lastPoll) < f.opts.PollInterval {
		return
	}
	f.lastPoll = now
	st, err := os.Stat(f.path)
	if err != nil {
		f.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "certsource: certificate file unreadable; keeping the last good certificate",
			slog.String("source", f.path), slog.String("error", err.Error()))
		return
	}
	if st.Size() == f.stamp.size && st.ModTime().Equal(f.stamp.mod) {
		return
	}
	if err := f.load(ctx); err != nil {
		f.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "certsource: certificate file changed but does not load; keeping the last good certificate",
			slog.String("source", f.path), slog.String("error", err.Error()))
	}
}

// ClientAuth signs an assertion with the current certificate, after
// looking for a new file when the poll interval has passed.
func (f *File) ClientAuth(ctx context.Context, req AuthRequest) (AuthParams, error) {
	f.poll(ctx)
	return f.cur.Load().ClientAuth(ctx, req)
}

// Reload reads the file now. On failure the last good certificate stays
// and the error says why.
func (f *File) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastPoll = f.opts.Clock.Now()
	if err := f.load(ctx); err != nil {
		f.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "certsource: reloading the certificate file failed; keeping the last good certificate",
			slog.String("source", f.path), slog.String("error", err.Error()))
		return err
	}
	f.cur.Load().Reload(ctx)
	return nil
}

// Description names the file and the current certificate's thumbprint.
func (f *File) Description() string {
	return "certificate file " + f.path + " sha256:" + f.cur.Load().thumbprint
}

// NewBase64 reads a certificate from a base64 string (an environment
// variable or a configuration value): PEM or PFX.
func NewBase64(value, password string, opts CertificateOptions) (*Certificate, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return nil, &parseError{"the base64 certificate value is not base64"}
	}
	return ParseCertificate(b, password, opts)
}

func warnExpiry(ctx context.Context, logger *slog.Logger, source string, c *Certificate, now time.Time, window time.Duration) {
	left := c.NotAfter().Sub(now)
	switch {
	case left <= 0:
		logger.LogAttrs(ctx, slog.LevelWarn, "certsource: the certificate has expired",
			slog.String("source", source), slog.String("sha256", c.thumbprint), slog.Time("not_after", c.NotAfter()))
	case left < window:
		logger.LogAttrs(ctx, slog.LevelWarn, "certsource: the certificate expires soon",
			slog.String("source", source), slog.String("sha256", c.thumbprint), slog.Time("not_after", c.NotAfter()))
	}
}
