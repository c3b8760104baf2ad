package destination

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// DefaultRecoveryWindowDays is how long a secret tokenward deletes can be
// restored: Secrets Manager's own default.
const DefaultRecoveryWindowDays = 30

// AWSConfig configures an AWS Secrets Manager writer. Credentials come from
// the SDK's default chain (AWS_ACCESS_KEY_ID and friends, AWS_PROFILE and
// the shared files, web identity, SSO, the container or instance role)
// unless Credentials is set.
type AWSConfig struct {
	// Region is the Secrets Manager region; the SDK's (AWS_REGION, the
	// profile's region) when empty.
	Region string
	// Endpoint overrides the service endpoint, such as
	// http://localhost:4566 for LocalStack; the SDK also reads
	// AWS_ENDPOINT_URL_SECRETS_MANAGER.
	Endpoint string
	// RecoveryWindowDays is how long a deleted secret can be restored: 7
	// to 30, 30 by default.
	RecoveryWindowDays int
	// Credentials replaces the default chain (tests).
	Credentials aws.CredentialsProvider
	// HTTPClient supplies the transport; the SDK's by default.
	HTTPClient *http.Client
}

// Environment variables AWSConfigFromEnv reads; the SDK reads its own
// (AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ...) besides.
const (
	EnvAWSRegion         = "AWS_REGION"
	EnvAWSEndpoint       = "TOKENWARD_AWS_ENDPOINT"
	EnvAWSRecoveryWindow = "TOKENWARD_AWS_RECOVERY_WINDOW_DAYS"
)

// AWSConfigFromEnv reads the Secrets Manager settings of the environment
// through getenv: AWS_REGION, TOKENWARD_AWS_ENDPOINT and
// TOKENWARD_AWS_RECOVERY_WINDOW_DAYS. Access keys in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN) are read through getenv
// too, as the first link of the SDK's chain would read them from the
// process; without them the chain goes on as usual.
func AWSConfigFromEnv(getenv func(string) string) (AWSConfig, error) {
	c := AWSConfig{Region: getenv(EnvAWSRegion), Endpoint: getenv(EnvAWSEndpoint)}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		c.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	}
	if s := getenv(EnvAWSRecoveryWindow); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return c, fmt.Errorf("%s: %q is not a number of days from 7 to 30", EnvAWSRecoveryWindow, s)
		}
		c.RecoveryWindowDays = n
	}
	return c, c.check()
}

func (c AWSConfig) check() error {
	if c.RecoveryWindowDays != 0 && (c.RecoveryWindowDays < 7 || c.RecoveryWindowDays > 30) {
		return fmt.Errorf("aws: the recovery window must be 7 to 30 days, not %d", c.RecoveryWindowDays)
	}
	if c.Endpoint != "" {
		if err := CheckAWSEndpoint(c.Endpoint); err != nil {
			return fmt.Errorf("aws: %w", err)
		}
	}
	return nil
}

// CheckAWSEndpoint reports whether e is a usable endpoint URL.
func CheckAWSEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q must be an http:// or https:// URL, such as http://localhost:4566", e)
	}
	return nil
}

// AWS writes token values to AWS Secrets Manager secrets. It is safe for
// concurrent use.
//
// A secret it creates is tagged managed-by = tokenward/<name>; one without
// that tag is refused. A new value is a new version, which Secrets Manager
// labels AWSCURRENT while the one before becomes AWSPREVIOUS, so a consumer
// that reads AWSPREVIOUS still has the previous value during the overlap. A
// value already AWSCURRENT is not written again, and a retried request
// carries the same ClientRequestToken, so neither makes a second version. A
// secret of the token's that is scheduled for deletion is restored; one
// that is not the token's is an error. Delete schedules the deletion of the
// token's own secret, with a recovery window.
type AWS struct {
	cfg AWSConfig

	mu     sync.Mutex
	client *secretsmanager.Client // nil until the first use
}

var _ Writer = (*AWS)(nil)

// NewAWS returns a Secrets Manager writer after checking cfg. The SDK's
// configuration (region, credentials) is loaded at the first write, so a
// run without such destinations needs none.
func NewAWS(cfg AWSConfig) (*AWS, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.RecoveryWindowDays == 0 {
		cfg.RecoveryWindowDays = DefaultRecoveryWindowDays
	}
	return &AWS{cfg: cfg}, nil
}

func (a *AWS) sm(ctx context.Context) (*secretsmanager.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if a.cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(a.cfg.Region))
	}
	if a.cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(a.cfg.Credentials))
	}
	if a.cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(a.cfg.HTTPClient))
	}
	conf, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: load the SDK configuration: %w", err)
	}
	if conf.Region == "" {
		return nil, errors.New("aws: no region: set aws.region in the provider, or AWS_REGION")
	}
	a.client = secretsmanager.NewFromConfig(conf, func(o *secretsmanager.Options) {
		if a.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(a.cfg.Endpoint)
		}
	})
	return a.client, nil
}

// requestToken is the ClientRequestToken of writing value over the version
// current: the same write retried is the same token, so Secrets Manager
// ignores the repeat, while a value written again later (a credential's
// alternating user name) is a new version. It is a hash, domain-separated
// so it matches no other hash of the value tokenward keeps.
func requestToken(name, current, value string) string {
	h := sha256.Sum256([]byte("tokenward aws_secrets_manager version\x00" + name + "\x00" + current + "\x00" + value))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func awsError(what, name string, err error) error {
	return fmt.Errorf("aws: %s %s: %w", what, name, err)
}

func ownerOf(tags []smtypes.Tag) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == ManagedByKey {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func (a *AWS) notOwned(name, owner, found string) error {
	held := "has no " + ManagedByKey + " tag"
	if found != "" {
		held = fmt.Sprintf("is tagged %s = %s", ManagedByKey, found)
	}
	return fmt.Errorf("aws: secret %s %s: %w: tokenward never overwrites or deletes a secret it does not own. "+
		"Choose another name, or hand the secret over with: aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=%s",
		name, held, ErrNotOwned, name, ManagedByKey, owner)
}

// Write puts value in the destination's secret as its AWSCURRENT version,
// creating the secret (tagged as the token's) when it does not exist.
func (a *AWS) Write(ctx context.Context, d store.Destination, value string) error {
	c, err := decodeChecked(KindAWSSecret, d)
	if err != nil {
		return err
	}
	sm, err := a.sm(ctx)
	if err != nil {
		return err
	}
	owner := ManagedBy(c.ManagedBy)
	// Twice at most: a secret created by someone else between the describe
	// and the create is described again, and refused.
	for range 2 {
		desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.Name)})
		var missing *smtypes.ResourceNotFoundException
		if errors.As(err, &missing) {
			_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String(c.Name), SecretString: aws.String(value), ClientRequestToken: aws.String(requestToken(c.Name, "", value)),
				Description: aws.String("Managed by tokenward (" + c.ManagedBy + ")"),
				Tags:        []smtypes.Tag{{Key: aws.String(ManagedByKey), Value: aws.String(owner)}},
			})
			var exists *smtypes.ResourceExistsException
			var invalid *smtypes.InvalidRequestException
			if errors.As(err, &exists) || errors.As(err, &invalid) {
				continue
			}
			if err != nil {
				return awsError("create", c.Name, err)
			}
			return nil
		}
		if err != nil {
			return awsError("describe", c.Name, err)
		}
		found := ownerOf(desc.Tags)
		switch {
		case found != owner && desc.DeletedDate != nil:
			return fmt.Errorf("aws: secret %s is scheduled for deletion and is not this token's (%w): "+
				"restore it yourself (aws secretsmanager restore-secret --secret-id %s) and tag it %s = %s to hand it over, or choose another name",
				c.Name, ErrNotOwned, c.Name, ManagedByKey, owner)
		case found != owner:
			return a.notOwned(c.Name, owner, found)
		case desc.DeletedDate != nil:
			// Deleted by tokenward, such as when the token was destroyed,
			// and wanted again within its recovery window.
			if _, err := sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: desc.ARN}); err != nil {
				return awsError("restore", c.Name, err)
			}
		}
		current := ""
		for id, stages := range desc.VersionIdsToStages {
			for _, s := range stages {
				if s == "AWSCURRENT" {
					current = id
				}
			}
		}
		if current != "" {
			got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: desc.ARN, VersionId: aws.String(current)})
			if err != nil {
				return awsError("read", c.Name, err)
			}
			if aws.ToString(got.SecretString) == value {
				return nil // delivered already: a rerun makes no new version
			}
		}
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: desc.ARN, SecretString: aws.String(value), ClientRequestToken: aws.String(requestToken(c.Name, current, value)),
		})
		if err != nil {
			return awsError("write", c.Name, err)
		}
		return nil
	}
	return fmt.Errorf("aws: create %s: the secret appeared while tokenward created it; the next run tries again", c.Name)
}

// Delete schedules the deletion of the destination's secret, with the
// recovery window, when it is the token's. A secret that is gone, already
// scheduled, or not the token's is left as it is.
func (a *AWS) Delete(ctx context.Context, d store.Destination) error {
	c, err := decodeChecked(KindAWSSecret, d)
	if err != nil {
		return err
	}
	sm, err := a.sm(ctx)
	if err != nil {
		return err
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.Name)})
	var missing *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		return nil
	case err != nil:
		return awsError("describe", c.Name, err)
	case ownerOf(desc.Tags) != ManagedBy(c.ManagedBy) || desc.DeletedDate != nil:
		return nil
	}
	_, err = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: desc.ARN, RecoveryWindowInDays: aws.Int64(int64(a.cfg.RecoveryWindowDays)), ForceDeleteWithoutRecovery: aws.Bool(false),
	})
	if err != nil {
		return awsError("delete", c.Name, err)
	}
	return nil
}
