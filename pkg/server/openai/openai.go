// Package openai is the one client of the council's OpenAI-compatible API:
// GET /v1/models and POST /v1/chat/completions, answered as JSON or as a
// server-sent event stream. Every probe that talks to the council uses it, so
// the wire format, the limits and the meaning of a failure are written once.
//
// It runs over a *transport.Client, which already picks mTLS or bearer,
// refuses redirects and proxies and adds the Authorization header. On top of
// that it:
//
//   - bounds every read (MaxBody for a JSON body, MaxEvent for one stream
//     event) and every wait (the caller's context; Limits.TTFB for the
//     response header; Limits.Stall for the gap between two stream events);
//   - times each stage (connect, first byte, first token, every gap between
//     tokens, last token) with net/http/httptrace, for probes that measure
//     speed or detect a wedged server;
//   - classifies every failure as one *Error with a Class (unreachable,
//     hang, http_error, auth, bad_response, stream_stall), the HTTP status
//     and a bounded excerpt of the body. Every string in an Error went
//     through redact.String: a server that echoes the request's
//     Authorization header into an error page cannot put the token into a
//     log line or an alert.
//
// What the server says about itself (the model ids of /v1/models, the model
// and system_fingerprint of an answer) enters sanitised and bounded
// (text.Ident: no control or format character, at most 200 bytes), so no
// printer, state file or metrics label downstream can be driven by it. The
// answers themselves (content, reasoning, logprob tokens) are returned as
// the server sent them, because they are judged (garbage, parity); a caller
// that shows one passes it through text.Excerpt, and every sink redacts.
//
// The served model: Models.Served(want) is the rule every probe uses. With
// want set it is want when the server lists it, and an error naming the
// listed ids otherwise; with want empty it is the first non-empty id listed.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Endpoint paths.
const (
	ModelsPath = "/v1/models"
	ChatPath   = "/v1/chat/completions"
)

// DefaultMaxBody bounds a JSON response body: a chat answer of a few
// thousand tokens is far smaller; a wrong service on the port may stream
// forever.
const DefaultMaxBody = 4 << 20

// Limits bound the waits of one request besides the caller's context (the
// overall deadline). Zero means "no limit of its own".
type Limits struct {
	// TTFB bounds the wait for the response header, from the request's
	// start. Without streaming that is the whole generation.
	TTFB time.Duration
	// Stall bounds, in a stream, the wait for the first event after the
	// header and between two data events. Comments (keep-alives) do not
	// reset it: a server that pings without producing tokens is stalled
	// all the same.
	Stall time.Duration
}

// Client talks to one OpenAI-compatible server. The zero values of its
// optional fields are usable defaults.
type Client struct {
	Transport *transport.Client
	Limits    Limits
	// MaxBody bounds a JSON body (DefaultMaxBody if 0).
	MaxBody int64
	// MaxEvent bounds one stream event (DefaultMaxEventBytes if 0).
	MaxEvent int
	// MaxGaps bounds the inter-token gaps kept in Timings.Gaps
	// (DefaultMaxGaps if 0); MaxGap and the count cover all of them.
	MaxGaps int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// New returns a client over tc with default bounds and no limits besides
// the caller's context.
func New(tc *transport.Client) *Client {
	return &Client{Transport: tc}
}

// WithLimits returns a copy of c with limits l.
func (c *Client) WithLimits(l Limits) *Client {
	cp := *c
	cp.Limits = l
	return &cp
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

// Class is what kind of failure an Error is.
type Class string

// The classes, in the order a request meets them.
const (
	// Unreachable: no connection (refused, reset, TLS handshake failed, no
	// connection within a limit).
	Unreachable Class = "unreachable"
	// Hang: connected and sent the request, but no response header within
	// Limits.TTFB, or the exchange not finished by the caller's deadline.
	Hang Class = "hang"
	// HTTPError: a status other than 200 (and other than 401/403).
	HTTPError Class = "http_error"
	// Auth: 401 or 403: the server refused our credentials. A fault on our
	// side (a wrong or missing token), not the server's.
	Auth Class = "auth"
	// StreamStall: no stream event within Limits.Stall.
	StreamStall Class = "stream_stall"
	// BadResponse: a 200 that is not a usable answer (empty, HTML, not
	// JSON, no choices, a broken or unterminated stream, no models).
	BadResponse Class = "bad_response"
)

// Limit names the limit that ended a request, in Error.Limit.
type Limit string

// Limits that end requests.
const (
	// LimitDeadline: the caller's context deadline. Its length is the
	// caller's, so the message says "the deadline" and the caller may name
	// it.
	LimitDeadline Limit = "deadline"
	LimitTTFB     Limit = "ttfb"
	LimitStall    Limit = "stall"
)

// Causes of a BadResponse, wrapped in Error.Err (check with errors.Is).
var (
	ErrEmptyBody      = errors.New("empty body")
	ErrHTML           = errors.New("HTML page instead of JSON")
	ErrNotJSON        = errors.New("not JSON")
	ErrTooLarge       = errors.New("response body over the size limit")
	ErrNoModels       = errors.New("no models listed")
	ErrModelNotListed = errors.New("model not listed")
	ErrNotStream      = errors.New("not an event stream")
	ErrNoDone         = errors.New("stream ended without [DONE]")
	ErrNoFinishReason = errors.New("no finish_reason")
	ErrServerError    = errors.New("error object in a 200")
	ErrNoChoices      = errors.New("no choices")
	ErrBadContent     = errors.New("message content is neither a string nor text parts")
)

// Error is one classified failure. Every string in it has been through
// redact.String, and Error() passes the whole message through it again.
type Error struct {
	Class Class
	// Op is the request: "GET /v1/models", "POST /v1/chat/completions".
	Op string
	// Status is the HTTP status, 0 when no response header arrived.
	Status int
	// Body is a short single-line excerpt of the response body (a non-200
	// or an unusable 200), redacted; "" when not read.
	Body string
	// Limit is the limit that ended the request ("" when none did).
	Limit Limit
	// Chunks is how many stream data events were read before the failure.
	Chunks int
	// Detail says what went wrong, without Op.
	Detail string
	// Err is the cause: a network error, a context error or one of the
	// Err* values above.
	Err error
}

func (e *Error) Error() string {
	return redact.String(e.Op + ": " + e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns err's class ("" when err is nil or not an *Error).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ""
}

// Limit errors: the causes a request is cancelled with.
var (
	errTTFB  = errors.New("time-to-first-byte limit exceeded")
	errStall = errors.New("stream stalled")
)

// exchange is one HTTP exchange whose response header has arrived.
type exchange struct {
	resp   *http.Response
	ctx    context.Context
	cancel context.CancelCauseFunc
	op     string
	parent context.Context
	tm     *Timings
}

func (x *exchange) close() {
	x.resp.Body.Close()
	x.cancel(nil)
}

// fail builds an Error for this exchange.
func (x *exchange) fail(class Class, cause error, format string, args ...any) *Error {
	return &Error{Class: class, Op: x.op, Status: x.resp.StatusCode, Detail: redact.String(fmt.Sprintf(format, args...)), Err: cause}
}

// deadlineHit reports whether the caller's deadline (not a cancellation
// from outside) ended the exchange.
func deadlineHit(parent context.Context) bool {
	return errors.Is(parent.Err(), context.DeadlineExceeded)
}

// send makes one request under Limits.TTFB and returns the exchange whose
// header arrived, whatever its status.
func (c *Client) send(ctx context.Context, method, path string, body []byte, accept string, tm *Timings) (*exchange, error) {
	op := method + " " + path
	rctx, cancel := context.WithCancelCause(ctx)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	st := &stages{now: c.now}
	req, err := c.Transport.NewRequest(httptrace.WithClientTrace(rctx, st.trace()), method, path, rd)
	if err != nil {
		cancel(nil)
		return nil, &Error{Class: Unreachable, Op: op, Detail: redact.Error(err), Err: err}
	}
	req.Header.Set("Accept", accept)
	tm.Start = c.now()
	var limit *time.Timer
	if c.Limits.TTFB > 0 {
		limit = time.AfterFunc(c.Limits.TTFB, func() { cancel(errTTFB) })
	}
	resp, err := c.Transport.HTTP.Do(req)
	fired := limit != nil && !limit.Stop()
	if err == nil && fired {
		// The header and the limit arrived together; the limit wins, and
		// the body is unusable anyway.
		resp.Body.Close()
		err = errTTFB
	}
	connAt, firstAt := st.get()
	tm.Connected = connAt
	if err != nil {
		cause := context.Cause(rctx)
		cancel(nil)
		tm.End = c.now()
		return nil, c.sendError(ctx, op, err, cause, !connAt.IsZero())
	}
	tm.FirstByte = firstAt
	if tm.FirstByte.IsZero() {
		tm.FirstByte = c.now()
	}
	return &exchange{resp: resp, ctx: rctx, cancel: cancel, op: op, parent: ctx, tm: tm}, nil
}

// stages records when a request connected and when the first byte of its
// response arrived. The trace callbacks run on the transport's
// goroutines, and may run after Do has returned (a cancelled request's
// read loop still sees its first byte): they write only these stages,
// under mu, and the caller copies them into its Timings once (get). The
// Timings are written by the caller's goroutine alone.
type stages struct {
	now                  func() time.Time
	mu                   sync.Mutex
	connected, firstByte time.Time
}

func (s *stages) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			now := s.now()
			s.mu.Lock()
			if s.connected.IsZero() {
				s.connected = now
			}
			s.mu.Unlock()
		},
		GotFirstResponseByte: func() {
			now := s.now()
			s.mu.Lock()
			if s.firstByte.IsZero() {
				s.firstByte = now
			}
			s.mu.Unlock()
		},
	}
}

func (s *stages) get() (connected, firstByte time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected, s.firstByte
}

// sendError says why a request got no response header: err is Do's,
// cause the request context's cause (errTTFB when the limit fired), conn
// whether it had connected. Connected and no answer is a hang; not
// connected is unreachable; cancelled from outside (SIGTERM) determined
// nothing.
func (c *Client) sendError(ctx context.Context, op string, err, cause error, conn bool) *Error {
	e := &Error{Op: op, Err: err}
	switch {
	case ctx.Err() != nil && !deadlineHit(ctx):
		e.Class, e.Detail, e.Err = Unreachable, "cancelled", context.Cause(ctx)
	case deadlineHit(ctx) && conn:
		e.Class, e.Limit, e.Detail = Hang, LimitDeadline, "no response within the deadline"
	case deadlineHit(ctx):
		e.Class, e.Limit, e.Detail = Unreachable, LimitDeadline, "could not connect within the deadline"
	case errors.Is(cause, errTTFB) && conn:
		e.Class, e.Limit = Hang, LimitTTFB
		e.Detail = fmt.Sprintf("connected and sent the request, but no response header within %s (time-to-first-byte limit)", c.Limits.TTFB)
	case errors.Is(cause, errTTFB):
		e.Class, e.Limit, e.Detail = Unreachable, LimitTTFB, fmt.Sprintf("could not connect within %s", c.Limits.TTFB)
	default:
		e.Class, e.Detail = Unreachable, redact.String(netError(err))
	}
	return e
}

// sendOK is send that turns a status other than 200 into an Error (Auth for
// 401 and 403, HTTPError otherwise) with a short, redacted excerpt.
func (c *Client) sendOK(ctx context.Context, method, path string, body []byte, accept string, tm *Timings) (*exchange, error) {
	x, err := c.send(ctx, method, path, body, accept, tm)
	if err != nil {
		return nil, err
	}
	if x.resp.StatusCode == http.StatusOK {
		return x, nil
	}
	defer x.close()
	data, _ := io.ReadAll(io.LimitReader(x.resp.Body, 4096))
	tm.End = c.now()
	class := HTTPError
	if x.resp.StatusCode == http.StatusUnauthorized || x.resp.StatusCode == http.StatusForbidden {
		class = Auth
	}
	e := x.fail(class, nil, "HTTP %d: %s", x.resp.StatusCode, excerpt(data))
	e.Body = excerpt(data)
	return nil, e
}

// readBody reads a bounded body.
func (c *Client) readBody(x *exchange) ([]byte, error) {
	max := c.maxBody()
	data, err := io.ReadAll(io.LimitReader(x.resp.Body, max+1))
	x.tm.End = c.now()
	if err != nil {
		if deadlineHit(x.parent) {
			e := x.fail(Hang, err, "response body not finished within the deadline")
			e.Limit = LimitDeadline
			return nil, e
		}
		return nil, x.fail(BadResponse, err, "reading the response body: %s", netError(err))
	}
	if int64(len(data)) > max {
		return nil, x.fail(BadResponse, ErrTooLarge, "response body over %d bytes", max)
	}
	return data, nil
}

// decodeJSON decodes a 200 body into v, or says why it is not a usable JSON
// document: empty, an HTML page (a captive portal, a wrong service on the
// port), or not JSON.
func decodeJSON(x *exchange, data []byte, v any) error {
	ctype := x.resp.Header.Get("Content-Type")
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return x.fail(BadResponse, ErrEmptyBody, "200 with an empty body")
	case isHTML(ctype, data):
		e := x.fail(BadResponse, ErrHTML, "200 with an HTML page, not JSON (%s): %s", orNone(ctype), excerpt(data))
		e.Body = excerpt(data)
		return e
	}
	if err := json.Unmarshal(data, v); err != nil {
		e := x.fail(BadResponse, fmt.Errorf("%w: %w", ErrNotJSON, err), "200 but not JSON (%s): %s", jsonError(err), excerpt(data))
		e.Body = excerpt(data)
		return e
	}
	return nil
}

// netError is err without the *url.Error wrapper, which repeats the method
// and URL the caller already names.
func netError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// jsonError names what went wrong without echoing the document.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s where %s was expected at %q", te.Value, te.Type, te.Field)
	}
	return err.Error()
}

func isHTML(ctype string, data []byte) bool {
	if mt, _, err := mime.ParseMediaType(ctype); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		return true
	}
	head := strings.ToLower(string(bytes.TrimSpace(data[:min(len(data), 64)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ExcerptMax bounds a body excerpt in an Error.
const ExcerptMax = 160

// excerpt is a response body as an Error shows it: one line, sanitised
// and redacted, at most ExcerptMax bytes (text.Excerpt), or "(empty body)".
func excerpt(body []byte) string {
	if s := text.Excerpt(string(body), ExcerptMax); s != "" {
		return s
	}
	return "(empty body)"
}

// hasValue reports whether a raw JSON field is present and not null.
func hasValue(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}
