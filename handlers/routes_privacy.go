package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/infra/privacy"
)

// Eraser erases a subject's personal data (infra/privacy).
type Eraser interface {
	Erase(ctx context.Context, subject, by string, now time.Time) (privacy.Erasure, error)
}

// PrivacyAPI serves the erasure of personal data.
type PrivacyAPI struct {
	Eraser Eraser
	Now    func() time.Time // time.Now when nil
}

// ErasureRequest names the subject to erase: a user ID (e-mail address) or a CSP
// customer's identifier, exactly as it was recorded.
type ErasureRequest struct {
	Subject string `json:"subject" binding:"required" maxLength:"256"`
}

// PrivacyRoutes are the privacy routes (platform).
func PrivacyRoutes(a PrivacyAPI) []Route {
	roles := make([]SystemRole, len(domain.PrivacyErasers))
	for i, r := range domain.PrivacyErasers {
		roles[i] = SystemRole(r)
	}
	return []Route{
		{Method: http.MethodPost, Path: "/v1/privacy/erasures", Summary: "Erase a subject's personal data: delete its key, record SubjectErased (without the data); history, exports and read models then show it as erased:<ref> (platform)",
			Roles: roles, Request: ErasureRequest{}, Response: privacy.Erasure{}, Statuses: []int{http.StatusCreated}, LongRunning: true, Handler: a.erase,
			// An erasure is done once: retried after it was, it answers 404 (nothing kept
			// for the subject), so it needs no key.
			NoIdempotencyKey: true},
	}
}

func (a PrivacyAPI) erase(c echo.Context) error {
	var req ErasureRequest
	if err := Bind(c, &req); err != nil {
		return err
	}
	subject := strings.TrimSpace(req.Subject)
	if subject == "" {
		return Problemf(http.StatusBadRequest, CodeBadRequest, "name the subject to erase").With("field", "subject")
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	out, err := a.Eraser.Erase(c.Request().Context(), subject, by(c).UserID, now().UTC())
	if errors.Is(err, privacy.ErrUnknownSubject) {
		return Problemf(http.StatusNotFound, CodeNotFound, "no personal data is kept for this subject (never recorded, or already erased)").With("field", "subject")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}
