// Package awstest is a fake AWS Secrets Manager for tests: a real HTTP server
// that speaks the service's JSON 1.1 protocol closely enough for
// aws-sdk-go-v2's secretsmanager client to talk to it.
//
// Its behaviour follows the API reference
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/):
//
//   - every request is POST / with X-Amz-Target secretsmanager.<Action> and
//     a Signature Version 4 Authorization header, which the fake verifies
//     against the access keys it knows (AddCredentials): a missing one is
//     MissingAuthenticationTokenException, an unknown key
//     UnrecognizedClientException, a wrong signature InvalidSignatureException
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html);
//   - CreateSecret, DescribeSecret, PutSecretValue, GetSecretValue,
//     TagResource, DeleteSecret and RestoreSecret, by name or ARN;
//   - version stages as PutSecretValue documents them: a new version takes
//     AWSCURRENT and the version that held it takes AWSPREVIOUS; a
//     ClientRequestToken that names an existing version with the same value
//     is ignored (idempotent), with another value it is refused;
//   - DeleteSecret schedules the deletion after a recovery window of 7 to 30
//     days (30 by default) and sets DeletedDate; until RestoreSecret, the
//     secret's value can be neither read nor written (InvalidRequestException)
//     and its name cannot be created again; ForceDeleteWithoutRecovery removes
//     it at once.
//
// Errors are JSON {"__type": ..., "message": ...} with the X-Amzn-ErrorType
// header, status 400, as the protocol has them.
package awstest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Region and Account are what the fake's ARNs name.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// The staging labels Secrets Manager moves.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Server is a fake Secrets Manager. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint, such as http://127.0.0.1:PORT.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]string  // access key id -> secret access key
	secrets  map[string]*secret // by name
	now      func() time.Time
	requests []string // the actions called, in order
}

type secret struct {
	arn, name, description string
	tags                   map[string]string
	tagOrder               []string
	versions               map[string]*version // by version id
	order                  []string            // version ids in creation order
	created, changed       time.Time
	deleted                time.Time // DeletedDate: when DeleteSecret scheduled the deletion; zero when not scheduled
	deletion               time.Time // the end of the recovery window, when it is deleted for good
}

type version struct {
	value   string
	stages  []string
	created time.Time
}

// New starts a fake Secrets Manager that is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{keys: map[string]string{}, secrets: map[string]*secret{}, now: func() time.Time { return time.Now().UTC() }}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddCredentials makes an access key pair one whose signed requests the
// fake accepts.
func (s *Server) AddCredentials(accessKeyID, secretAccessKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[accessKeyID] = secretAccessKey
}

// Secret is what the fake holds for one secret.
type Secret struct {
	ARN       string
	Tags      map[string]string
	Current   string              // the AWSCURRENT value; "" without one
	Previous  string              // the AWSPREVIOUS value
	Stages    map[string][]string // version id -> staging labels
	Versions  int
	Scheduled bool // scheduled for deletion
}

// Get returns what the fake holds for the secret name; false when there is
// no such secret (or it was deleted for good).
func (s *Server) Get(name string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		return Secret{}, false
	}
	out := Secret{ARN: sec.arn, Tags: map[string]string{}, Stages: map[string][]string{}, Versions: len(sec.versions), Scheduled: !sec.deleted.IsZero()}
	for k, v := range sec.tags {
		out.Tags[k] = v
	}
	for id, v := range sec.versions {
		out.Stages[id] = append([]string(nil), v.stages...)
		if has(v.stages, StageCurrent) {
			out.Current = v.value
		}
		if has(v.stages, StagePrevious) {
			out.Previous = v.value
		}
	}
	return out, true
}

// Seed creates a secret as someone else would, with a value and tags; it
// returns the secret's ARN.
func (s *Server) Seed(name, value string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.create(name, "")
	for k, v := range tags {
		sec.setTag(k, v)
	}
	s.putVersion(sec, newID(), value)
	return sec.arn
}

// Requests returns the actions called so far, such as "PutSecretValue", in
// order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) create(name, description string) *secret {
	var b [3]byte
	_, _ = rand.Read(b[:])
	now := s.now()
	sec := &secret{
		arn:  fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, name, hex.EncodeToString(b[:])),
		name: name, description: description, tags: map[string]string{}, versions: map[string]*version{}, created: now, changed: now,
	}
	s.secrets[name] = sec
	return sec
}

func (sec *secret) setTag(k, v string) {
	if _, ok := sec.tags[k]; !ok {
		sec.tagOrder = append(sec.tagOrder, k)
	}
	sec.tags[k] = v
}

// putVersion adds a version that takes AWSCURRENT; the version that held it
// takes AWSPREVIOUS, and the one that held AWSPREVIOUS loses it (it is then
// deprecated, as the service says of a version without labels).
func (s *Server) putVersion(sec *secret, id, value string) {
	for _, v := range sec.versions {
		switch {
		case has(v.stages, StageCurrent):
			v.stages = []string{StagePrevious}
		case has(v.stages, StagePrevious):
			v.stages = nil
		}
	}
	sec.versions[id] = &version{value: value, stages: []string{StageCurrent}, created: s.now()}
	sec.order = append(sec.order, id)
	sec.changed = s.now()
}

// find looks a secret up by name or ARN.
func (s *Server) find(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.arn == id {
			return sec
		}
	}
	return nil
}

// expire deletes for good the secrets whose recovery window has passed.
func (s *Server) expire() {
	now := s.now()
	for name, sec := range s.secrets {
		if !sec.deletion.IsZero() && !now.Before(sec.deletion) {
			delete(s.secrets, name)
		}
	}
}

type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errorf(typ, format string, args ...any) *apiError {
	return &apiError{Type: typ, Message: fmt.Sprintf(format, args...)}
}

func notFound() *apiError {
	return errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func markedForDeletion() *apiError {
	return errorf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
}

func reply(w http.ResponseWriter, v any, err *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newID())
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", err.Type)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(err)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		reply(w, nil, errorf("SerializationException", "cannot read the body"))
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok {
		reply(w, nil, errorf("UnknownOperationException", "unknown operation"))
		return
	}
	if aerr := s.verify(r, body); aerr != nil {
		reply(w, nil, aerr)
		return
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		reply(w, nil, errorf("SerializationException", "the body is not JSON"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, action)
	s.expire()
	handlers := map[string]func(request) (any, *apiError){
		"CreateSecret": s.createSecret, "DescribeSecret": s.describeSecret, "PutSecretValue": s.putSecretValue,
		"GetSecretValue": s.getSecretValue, "TagResource": s.tagResource, "DeleteSecret": s.deleteSecret,
		"RestoreSecret": s.restoreSecret,
	}
	h := handlers[action]
	if h == nil {
		reply(w, nil, errorf("UnknownOperationException", "the fake does not serve %s", action))
		return
	}
	out, aerr := h(in)
	reply(w, out, aerr)
}

// verify checks the request's Signature Version 4: the Authorization header
// names a known access key and a secretsmanager scope, and its signature is
// the one the canonical request of the headers it signed gives.
func (s *Server) verify(r *http.Request, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errorf("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return errorf("IncompleteSignatureException", "Authorization header requires AWS4-HMAC-SHA256")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred, signed, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	scope := strings.Split(cred, "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 || signed == "" || sig == "" || scope[3] != "secretsmanager" || scope[4] != "aws4_request" {
		return errorf("IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature for secretsmanager")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" || !strings.HasPrefix(amzDate, scope[1]) {
		return errorf("IncompleteSignatureException", "X-Amz-Date is missing or does not match the credential scope")
	}
	s.mu.Lock()
	secretKey, known := s.keys[scope[0]]
	s.mu.Unlock()
	if !known {
		return errorf("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	names := strings.Split(signed, ";")
	var canon strings.Builder
	for _, n := range names {
		v := r.Header.Get(n)
		switch n {
		case "host":
			v = r.Host
		case "content-length":
			if v == "" {
				v = strconv.FormatInt(r.ContentLength, 10)
			}
		}
		canon.WriteString(n + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var query []string
	for _, k := range keys {
		query = append(query, k+"="+q.Get(k))
	}
	creq := strings.Join([]string{r.Method, "/", strings.Join(query, "&"), canon.String(), signed, payload}, "\n")
	sum := sha256.Sum256([]byte(creq))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secretKey)
	for _, part := range scope[1:] {
		key = mac(key, part)
	}
	if !hmac.Equal([]byte(hex.EncodeToString(mac(key, toSign))), []byte(sig)) {
		return errorf("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
	}
	return nil
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// request holds the fields of every action the fake serves.
type request struct {
	Name                       string `json:"Name"`
	SecretID                   string `json:"SecretId"`
	Description                string `json:"Description"`
	SecretString               *string
	ClientRequestToken         string
	Tags                       []tag
	VersionID                  string `json:"VersionId"`
	VersionStage               string
	VersionStages              []string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery bool
}

// createSecret implements CreateSecret: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
func (s *Server) createSecret(in request) (any, *apiError) {
	if in.Name == "" {
		return nil, errorf("InvalidParameterException", "Name is required.")
	}
	if existing := s.secrets[in.Name]; existing != nil {
		if !existing.deleted.IsZero() {
			return nil, errorf("InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		return nil, errorf("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	sec := s.create(in.Name, in.Description)
	for _, t := range in.Tags {
		sec.setTag(t.Key, t.Value)
	}
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if in.SecretString != nil {
		id := in.ClientRequestToken
		if id == "" {
			id = newID()
		}
		s.putVersion(sec, id, *in.SecretString)
		out["VersionId"] = id
	}
	return out, nil
}

// describeSecret implements DescribeSecret: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html
func (s *Server) describeSecret(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	if sec == nil {
		return nil, notFound()
	}
	stages := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			stages[id] = v.stages
		}
	}
	tags := []tag{}
	for _, k := range sec.tagOrder {
		tags = append(tags, tag{Key: k, Value: sec.tags[k]})
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created), "LastChangedDate": epoch(sec.changed),
		"Tags": tags, "VersionIdsToStages": stages,
	}
	if sec.description != "" {
		out["Description"] = sec.description
	}
	if !sec.deleted.IsZero() {
		out["DeletedDate"] = epoch(sec.deleted)
	}
	return out, nil
}

// putSecretValue implements PutSecretValue: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
func (s *Server) putSecretValue(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	switch {
	case sec == nil:
		return nil, notFound()
	case !sec.deleted.IsZero():
		return nil, markedForDeletion()
	case in.SecretString == nil:
		return nil, errorf("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	case len(in.VersionStages) > 0:
		return nil, errorf("InvalidParameterException", "the fake moves only AWSCURRENT: leave VersionStages out")
	}
	id := in.ClientRequestToken
	if id == "" {
		id = newID()
	}
	if len(id) < 32 || len(id) > 64 {
		return nil, errorf("InvalidParameterException", "ClientRequestToken must be 32 to 64 characters.")
	}
	if v := sec.versions[id]; v != nil {
		if v.value != *in.SecretString {
			return nil, errorf("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
		}
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "VersionStages": v.stages}, nil
	}
	s.putVersion(sec, id, *in.SecretString)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "VersionStages": []string{StageCurrent}}, nil
}

// getSecretValue implements GetSecretValue: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
func (s *Server) getSecretValue(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	switch {
	case sec == nil:
		return nil, notFound()
	case !sec.deleted.IsZero():
		return nil, markedForDeletion()
	}
	stage := in.VersionStage
	if stage == "" && in.VersionID == "" {
		stage = StageCurrent
	}
	for id, v := range sec.versions {
		if (in.VersionID == "" || id == in.VersionID) && (stage == "" || has(v.stages, stage)) {
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": id, "SecretString": v.value,
				"VersionStages": v.stages, "CreatedDate": epoch(v.created)}, nil
		}
	}
	return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
}

// tagResource implements TagResource: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html
func (s *Server) tagResource(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	switch {
	case sec == nil:
		return nil, notFound()
	case !sec.deleted.IsZero():
		return nil, markedForDeletion()
	}
	for _, t := range in.Tags {
		sec.setTag(t.Key, t.Value)
	}
	return map[string]any{}, nil
}

// deleteSecret implements DeleteSecret: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
func (s *Server) deleteSecret(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	switch {
	case sec == nil:
		return nil, notFound()
	case in.ForceDeleteWithoutRecovery && in.RecoveryWindowInDays != nil:
		return nil, errorf("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	case in.RecoveryWindowInDays != nil && (*in.RecoveryWindowInDays < 7 || *in.RecoveryWindowInDays > 30):
		return nil, errorf("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	now := s.now()
	if in.ForceDeleteWithoutRecovery {
		delete(s.secrets, sec.name)
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(now)}, nil
	}
	if !sec.deleted.IsZero() {
		return nil, markedForDeletion()
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
	}
	sec.deleted, sec.deletion = now, now.Add(time.Duration(days)*24*time.Hour)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(sec.deletion)}, nil
}

// restoreSecret implements RestoreSecret: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RestoreSecret.html
func (s *Server) restoreSecret(in request) (any, *apiError) {
	sec := s.find(in.SecretID)
	if sec == nil {
		return nil, notFound()
	}
	sec.deleted, sec.deletion = time.Time{}, time.Time{}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}
