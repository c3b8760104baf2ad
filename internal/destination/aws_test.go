package destination_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination/awstest"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

const awsSecretKey = "aws-secret-key-not-a-value"

func awsDest(t *testing.T, name, owner string) store.Destination {
	t.Helper()
	d, err := destination.New(destination.KindAWSSecret, destination.Config{Name: name, ManagedBy: owner})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newAWS(t *testing.T, s *awstest.Server) *destination.AWS {
	t.Helper()
	s.AddCredentials("AKIDTEST", awsSecretKey)
	a, err := destination.NewAWS(destination.AWSConfig{Region: awstest.Region, Endpoint: s.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", awsSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func TestAWSWriteMovesStages(t *testing.T) {
	s := awstest.New(t)
	a := newAWS(t, s)
	ctx := context.Background()
	d := awsDest(t, "billing/api-token", "billing")
	for i, step := range []struct {
		value, current, previous string
		versions                 int
	}{
		{value1, value1, "", 1},
		{value1, value1, "", 1}, // a rerun makes no new version
		{value2, value2, value1, 2},
		{value1, value1, value2, 3}, // a value written again later (an alternating user) is a new version
	} {
		if err := a.Write(ctx, d, step.value); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, ok := s.Get("billing/api-token")
		if !ok || got.Current != step.current || got.Previous != step.previous || got.Versions != step.versions || got.Tags["managed-by"] != "tokenward/billing" {
			t.Fatalf("write %d: holds %+v", i, got)
		}
	}
	if n := count(s.Requests(), "CreateSecret"); n != 1 {
		t.Fatalf("%d CreateSecret, want 1", n)
	}
}

func TestAWSNeverTouchesAnotherOwnersSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags map[string]string
		want string
	}{
		{"untagged", nil, "has no managed-by tag"},
		{"another token's", map[string]string{"managed-by": "tokenward/other"}, "is tagged managed-by = tokenward/other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := awstest.New(t)
			a := newAWS(t, s)
			ctx := context.Background()
			s.Seed("billing/api-token", "theirs", tc.tags)
			d := awsDest(t, "billing/api-token", "billing")
			err := a.Write(ctx, d, value1)
			if !errors.Is(err, destination.ErrNotOwned) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "aws secretsmanager tag-resource --secret-id billing/api-token --tags Key=managed-by,Value=tokenward/billing") {
				t.Fatalf("write: %v", err)
			}
			noValue(t, err, "theirs", awsSecretKey)
			if err := a.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Get("billing/api-token")
			if got.Current != "theirs" || got.Versions != 1 || got.Scheduled {
				t.Fatalf("the secret was touched: %+v", got)
			}
			for _, act := range []string{"PutSecretValue", "DeleteSecret", "TagResource", "GetSecretValue"} {
				if slices.Contains(s.Requests(), act) {
					t.Fatalf("%s was called on another owner's secret", act)
				}
			}
		})
	}
}

func TestAWSDeleteAndRestore(t *testing.T) {
	s := awstest.New(t)
	a := newAWS(t, s)
	ctx := context.Background()
	d := awsDest(t, "billing/api-token", "billing")
	if err := a.Write(ctx, d, value1); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second delete finds it scheduled already
		if err := a.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got, ok := s.Get("billing/api-token"); !ok || !got.Scheduled {
			t.Fatalf("after delete: %+v, want scheduled for deletion", got)
		}
	}
	if n := count(s.Requests(), "DeleteSecret"); n != 1 {
		t.Fatalf("%d DeleteSecret, want 1", n)
	}
	// Wanted again within the recovery window: restored, then written.
	if err := a.Write(ctx, d, value2); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get("billing/api-token")
	if got.Scheduled || got.Current != value2 || got.Previous != value1 || !slices.Contains(s.Requests(), "RestoreSecret") {
		t.Fatalf("after the write: %+v", got)
	}

	// Someone else's secret scheduled for deletion is an error, and stays so.
	s.Seed("other/secret", "theirs", nil)
	other := awsDest(t, "other/secret", "billing")
	if err := a.Delete(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("other/secret"); got.Scheduled {
		t.Fatal("another owner's secret was deleted")
	}
	if err := a.Delete(ctx, awsDest(t, "gone/secret", "billing")); err != nil {
		t.Fatalf("a missing secret: %v", err)
	}
}

func TestAWSScheduledSecretOfAnotherOwner(t *testing.T) {
	s := awstest.New(t)
	a := newAWS(t, s)
	ctx := context.Background()
	// Someone else's secret (another token's), scheduled for deletion by them.
	owner := awsDest(t, "billing/api-token", "ops-token")
	if err := forceSchedule(ctx, s, a, owner); err != nil {
		t.Fatal(err)
	}
	err := a.Write(ctx, awsDest(t, "billing/api-token", "billing"), value1)
	if !errors.Is(err, destination.ErrNotOwned) || !strings.Contains(err.Error(), "scheduled for deletion") || !strings.Contains(err.Error(), "restore-secret") {
		t.Fatalf("err %v", err)
	}
	if slices.Contains(s.Requests(), "RestoreSecret") {
		t.Fatal("another owner's secret was restored")
	}
}

// forceSchedule schedules the deletion of a seeded secret as its owner
// would: tag it as d's owner's, delete through the writer.
func forceSchedule(ctx context.Context, s *awstest.Server, a *destination.AWS, d store.Destination) error {
	c, _ := destination.Decode(d)
	s.Seed(c.Name, "theirs", map[string]string{"managed-by": destination.ManagedBy(c.ManagedBy)})
	return a.Delete(ctx, d)
}

func TestAWSConfig(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TOKENWARD_AWS_RECOVERY_WINDOW_DAYS": "3"}, "7 to 30"},
		{map[string]string{"TOKENWARD_AWS_RECOVERY_WINDOW_DAYS": "x"}, "7 to 30"},
		{map[string]string{"TOKENWARD_AWS_ENDPOINT": "localhost:4566"}, "http:// or https://"},
		{map[string]string{"AWS_REGION": "eu-west-1", "TOKENWARD_AWS_ENDPOINT": "http://localhost:4566", "TOKENWARD_AWS_RECOVERY_WINDOW_DAYS": "7"}, ""},
	} {
		c, err := destination.AWSConfigFromEnv(func(k string) string { return tc.env[k] })
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
		if err == nil && (c.Region != "eu-west-1" || c.RecoveryWindowDays != 7) {
			t.Errorf("%v: %+v", tc.env, c)
		}
	}
}

func TestAWSRefusedSignature(t *testing.T) {
	s := awstest.New(t)
	a, err := destination.NewAWS(destination.AWSConfig{Region: awstest.Region, Endpoint: s.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDUNKNOWN", awsSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Write(context.Background(), awsDest(t, "billing/api-token", "billing"), value1)
	if err == nil || !strings.Contains(err.Error(), "UnrecognizedClientException") {
		t.Fatalf("err %v", err)
	}
	noValue(t, err, awsSecretKey)
	if _, ok := s.Get("billing/api-token"); ok {
		t.Fatal("an unsigned write landed")
	}
}
