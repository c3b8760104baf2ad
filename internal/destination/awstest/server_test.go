package awstest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination/awstest"
)

// client is the real SDK client pointed at the fake; creds nil sends
// unsigned requests.
func client(s *awstest.Server, creds aws.CredentialsProvider) *secretsmanager.Client {
	cfg := aws.Config{Region: awstest.Region, Credentials: creds, HTTPClient: http.DefaultClient, RetryMaxAttempts: 1}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestAuthentication(t *testing.T) {
	s := awstest.New(t)
	s.AddCredentials("AKIDGOOD", "good-secret")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		creds aws.CredentialsProvider
		want  string
	}{
		{"unsigned", aws.AnonymousCredentials{}, "MissingAuthenticationTokenException"},
		{"unknown key", credentials.NewStaticCredentialsProvider("AKIDBAD", "x", ""), "UnrecognizedClientException"},
		{"wrong secret key", credentials.NewStaticCredentialsProvider("AKIDGOOD", "not-it", ""), "InvalidSignatureException"},
		{"signed", credentials.NewStaticCredentialsProvider("AKIDGOOD", "good-secret", ""), "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(s, tc.creds).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
			if got := code(err); got != tc.want {
				t.Fatalf("error %v (%q), want %s", err, got, tc.want)
			}
		})
	}
}

func TestVersionStages(t *testing.T) {
	s := awstest.New(t)
	s.AddCredentials("AK", "SK")
	c := client(s, credentials.NewStaticCredentialsProvider("AK", "SK", ""))
	ctx := context.Background()
	const v1, v2, v3 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"

	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/x"), SecretString: aws.String("one"),
		ClientRequestToken: aws.String(v1), Tags: []types.Tag{{Key: aws.String("managed-by"), Value: aws.String("tokenward/x")}}})
	if err != nil || aws.ToString(out.VersionId) != v1 {
		t.Fatalf("create: %v %+v", err, out)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/x"), SecretString: aws.String("two")}); code(err) != "ResourceExistsException" {
		t.Fatalf("second create: %v", err)
	}
	for i, step := range []struct {
		token, value, wantCurrent, wantPrevious string
		wantCode                                string
	}{
		{token: v2, value: "two", wantCurrent: "two", wantPrevious: "one"},
		{token: v2, value: "two", wantCurrent: "two", wantPrevious: "one"},                // the same request again is ignored
		{token: v2, value: "other", wantCode: "ResourceExistsException"},                  // a version cannot change
		{token: v3, value: "three", wantCurrent: "three", wantPrevious: "two"},            // AWSPREVIOUS moves on
		{token: "short", value: "four", wantCode: "InvalidParameterException"},            // 32 to 64 characters
		{token: v1, value: "one", wantCurrent: "three", wantPrevious: "two"},              // an old version's token is ignored
		{token: v1, value: "changed", wantCode: "ResourceExistsException"},                // and cannot be rewritten
		{token: v3, value: "three", wantCurrent: "three", wantPrevious: "two"},            // nor does a retry move labels
		{token: v2[:35] + "9", value: "five", wantCurrent: "five", wantPrevious: "three"}, // a new token is a new version
	} {
		_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String(step.value), ClientRequestToken: aws.String(step.token)})
		if step.wantCode != "" {
			if code(err) != step.wantCode {
				t.Fatalf("step %d: %v, want %s", i, err, step.wantCode)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, _ := s.Get("app/x")
		if got.Current != step.wantCurrent || got.Previous != step.wantPrevious {
			t.Fatalf("step %d: current %q previous %q, want %q %q", i, got.Current, got.Previous, step.wantCurrent, step.wantPrevious)
		}
		prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/x"), VersionStage: aws.String(awstest.StagePrevious)})
		if err != nil || aws.ToString(prev.SecretString) != step.wantPrevious {
			t.Fatalf("step %d: AWSPREVIOUS read %v %v", i, err, prev)
		}
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/x")})
	if err != nil || len(d.VersionIdsToStages) != 2 || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "tokenward/x" {
		t.Fatalf("describe: %v %+v", err, d)
	}
}

func TestDeletionAndRestore(t *testing.T) {
	s := awstest.New(t)
	s.AddCredentials("AK", "SK")
	c := client(s, credentials.NewStaticCredentialsProvider("AK", "SK", ""))
	ctx := context.Background()
	s.Seed("app/y", "v", map[string]string{"team": "a"})
	id := aws.String("app/y")

	for _, bad := range []*secretsmanager.DeleteSecretInput{
		{SecretId: id, RecoveryWindowInDays: aws.Int64(6)},
		{SecretId: id, RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)},
	} {
		if _, err := c.DeleteSecret(ctx, bad); code(err) != "InvalidParameterException" {
			t.Fatalf("delete %+v: %v", bad, err)
		}
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id, RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("describe of a scheduled secret: %v %+v", err, d)
	}
	for name, call := range map[string]func() error{
		"GetSecretValue": func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id})
			return err
		},
		"PutSecretValue": func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("w")})
			return err
		},
		"TagResource": func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		"CreateSecret": func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: id, SecretString: aws.String("w")})
			return err
		},
	} {
		if err := call(); code(err) != "InvalidRequestException" {
			t.Fatalf("%s on a scheduled secret: %v, want InvalidRequestException", name, err)
		}
	}
	if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: id}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id})
	if err != nil || aws.ToString(got.SecretString) != "v" {
		t.Fatalf("read after restore: %v %+v", err, got)
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id, Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Get("app/y"); g.Tags["team"] != "a" || g.Tags["owner"] != "b" {
		t.Fatalf("tags %v", g.Tags)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("app/y"); ok {
		t.Fatal("a forced delete left the secret")
	}
}
