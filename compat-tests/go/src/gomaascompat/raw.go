package main

// Setup through gomaasapi's own low-level client (same OAuth PLAINTEXT
// signing as the controller): gomaasapi has no create call for most objects.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"

	"github.com/juju/gomaasapi"
)

type raw struct {
	c *gomaasapi.Client
}

func newRaw(apiURL, key string) (*raw, error) {
	c, err := gomaasapi.NewAuthenticatedClient(apiURL, key)
	if err != nil {
		return nil, err
	}
	return &raw{c: c}, nil
}

func uri(path string) *url.URL { return &url.URL{Path: path} }

func decode(body []byte, err error) (map[string]interface{}, error) {
	if err != nil {
		return nil, err
	}
	var out map[string]interface{}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v: %.300s", err, body)
	}
	return out, nil
}

func decodeList(body []byte, err error) ([]interface{}, error) {
	if err != nil {
		return nil, err
	}
	var out []interface{}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("not a JSON array: %v: %.300s", err, body)
	}
	return out, nil
}

func (r *raw) post(path, op string, kv ...string) (map[string]interface{}, error) {
	return decode(r.c.Post(uri(path), op, values(kv...), nil))
}

func (r *raw) put(path string, kv ...string) (map[string]interface{}, error) {
	return decode(r.c.Put(uri(path), values(kv...)))
}

func (r *raw) get(path, op string, kv ...string) ([]byte, error) {
	return r.c.Get(uri(path), op, values(kv...))
}

func (r *raw) getList(path string, kv ...string) ([]interface{}, error) {
	return decodeList(r.c.Get(uri(path), "", values(kv...)))
}

func values(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func num(m map[string]interface{}, key string) int {
	if f, ok := m[key].(float64); ok {
		return int(f)
	}
	return -1
}

func str(m map[string]interface{}, key string) string {
	s, _ := m[key].(string)
	return s
}

// statusOf returns the HTTP status of a gomaasapi error (0 if none).
func statusOf(err error) int {
	for e := err; e != nil; {
		if se, ok := e.(gomaasapi.ServerError); ok {
			return se.StatusCode
		}
		if se, ok := gomaasapi.GetServerError(e); ok {
			return se.StatusCode
		}
		u, ok := e.(interface{ Underlying() error })
		if !ok {
			break
		}
		e = u.Underlying()
	}
	// gomaasapi wraps the ServerError (NoMatchError, UnexpectedError, ...);
	// its text keeps the status line.
	if err != nil {
		if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return 0
}

var statusRE = regexp.MustCompile(`ServerError: (\d{3}) `)
