package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/est"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/spf13/cobra"
)

// pendingEntry is one queued EST request as `est pending --json` prints it.
type pendingEntry struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	Label      string    `json:"label"`
	Profile    string    `json:"profile"`
	CN         string    `json:"cn"`
	SANs       []string  `json:"sans"`
	Credential string    `json:"credential"`
	KeyType    string    `json:"key_type"`
	Status     string    `json:"status"` // pending, approved, rejected, expired
	DecidedAt  time.Time `json:"decided_at,omitzero"`
	DecidedBy  string    `json:"decided_by,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Serial     string    `json:"serial,omitempty"`
}

func toPendingEntry(p store.Pending, now time.Time) pendingEntry {
	e := pendingEntry{ID: p.ID, Created: p.CreatedAt, Expires: p.ExpiresAt, Label: p.Label, Profile: p.Profile, CN: p.CN,
		SANs: p.SANs, Credential: p.Credential, KeyType: p.KeyType, Status: string(p.Status),
		DecidedAt: p.DecidedAt, DecidedBy: p.DecidedBy, Reason: p.Reason, Serial: p.Serial}
	if e.SANs == nil {
		e.SANs = []string{}
	}
	if p.Status == store.PendingWaiting && p.Expired(now) {
		e.Status = "expired"
	}
	return e
}

func openApprover(dir string) (*est.Approver, error) {
	return est.OpenApprover(dir, est.ApproverOptions{Actor: ca.DefaultActor("cli")})
}

// newESTPendingCmds are `est pending`, `est approve` and `est reject`.
func newESTPendingCmds(dir *string, stdout io.Writer) []*cobra.Command {
	var asJSON, all bool
	pending := &cobra.Command{
		Use:   "pending",
		Short: "List EST enrollments waiting for approval (est.approval: manual)",
		Long: `List the simpleenroll requests that wait for an operator, oldest first. A
request waits ` + durationText(est.PendingLifetime) + ` for a decision; the device sends the same
request again until it gets its certificate (approve) or a 403 (reject).
With --all, decided and expired requests are listed too, with their status.`,
		Example: `  mtlsgate est pending --dir ./pki
  mtlsgate est pending --dir ./pki --all --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ap, err := openApprover(*dir)
			if err != nil {
				return err
			}
			defer ap.Close()
			list, err := ap.List(cmd.Context(), all)
			if err != nil {
				return err
			}
			now := time.Now()
			entries := make([]pendingEntry, len(list))
			for i, p := range list {
				entries[i] = toPendingEntry(p, now)
			}
			if asJSON {
				return printJSON(stdout, entries)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			head := "ID\tCREATED\tLABEL/PROFILE\tCN\tSANS\tCREDENTIAL\tKEY"
			if all {
				head += "\tSTATUS"
			}
			fmt.Fprintln(tw, head)
			for _, e := range entries {
				label := e.Label
				if label == "" {
					label = "-"
				}
				sans := strings.Join(e.SANs, ",")
				if sans == "" {
					sans = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s", e.ID, e.Created.UTC().Format(time.RFC3339), label, e.Profile, e.CN, sans, e.Credential, e.KeyType)
				if all {
					fmt.Fprintf(tw, "\t%s", e.Status)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	pending.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	pending.Flags().BoolVar(&all, "all", false, "also decided and expired requests")

	approve := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a waiting EST enrollment: issue its certificate",
		Long: `Issue the certificate of a waiting request under the profile it was queued
for. The device gets it when it sends the request again (RFC 7030 §4.2.3);
later retries get the same certificate. A request is decided once.`,
		Example: `  mtlsgate est approve --dir ./pki 3f9ac0e1d2b4a5f6`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := openApprover(*dir)
			if err != nil {
				return err
			}
			defer ap.Close()
			p, cert, err := ap.Approve(cmd.Context(), args[0])
			if errors.Is(err, ca.ErrNotPermitted) || errors.Is(err, ca.ErrInvalidRequest) || errors.Is(err, ca.ErrMalformedCSR) {
				return fmt.Errorf("est approve: the CA refuses this request: %w\nit stays pending; reject it with: mtlsgate est reject --dir %s %s --reason '...'", err, *dir, args[0])
			}
			if err != nil {
				return fmt.Errorf("est approve: %w", err)
			}
			_, err = fmt.Fprintf(stdout, "approved %s: issued serial %s for %s (profile %s, valid until %s); the device gets it at its next retry\n",
				p.ID, p.Serial, cert.Subject, p.Profile, cert.NotAfter.UTC().Format(time.RFC3339))
			return err
		},
	}

	var reason string
	reject := &cobra.Command{
		Use:   "reject ID [--reason TEXT]",
		Short: "Reject a waiting EST enrollment",
		Long: `Refuse a waiting request. When the device sends it again it gets 403 with
the reason (at most 256 printable characters: do not put secrets there).`,
		Example: `  mtlsgate est reject --dir ./pki 3f9ac0e1d2b4a5f6 --reason "unknown device"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := openApprover(*dir)
			if err != nil {
				return err
			}
			defer ap.Close()
			p, err := ap.Reject(cmd.Context(), args[0], reason)
			if err != nil {
				return fmt.Errorf("est reject: %w", err)
			}
			_, err = fmt.Fprintf(stdout, "rejected %s (CN %q, by %s)\n", p.ID, p.CN, p.Credential)
			return err
		},
	}
	reject.Flags().StringVar(&reason, "reason", "", "why (sent to the device)")
	return []*cobra.Command{pending, approve, reject}
}

// durationText writes whole days as "7 days".
func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
