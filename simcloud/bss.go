package simcloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// BSS (the billing centre) is one global service signed with the account's
// domain id, not a project: its API has no project in the path, so it is
// served here rather than through wrap. Prices are the world's flavour
// catalogue (world.Flavor.PricePerHour, in CNY).
//
// ListOnDemandResourceRatings, as documented
// (https://support.huaweicloud.com/api-oce/bcloud_01001.html) and as the SDK
// sends it (services/bss/v2/model/model_rate_on_demand_req.go): project_id
// (at most 64 characters), 1..100 product_infos with unique ids.
const (
	bssRatingsPattern = "POST /v2/bills/ratings/on-demand-resources"
	bssRatingsAPI     = "ListOnDemandResourceRatings"
	bssMaxProducts    = 100
	// bssInvalidParam is BSS's code for a request it refuses ("CBC.0100
	// Invalid parameter"); BSS answers in the flat error shape.
	bssInvalidParam = "CBC.0100"
	bssForbidden    = "CBC.0151"
)

type bssProductInfo struct {
	ID               string           `json:"id"`
	CloudServiceType string           `json:"cloud_service_type"`
	ResourceType     string           `json:"resource_type"`
	ResourceSpec     string           `json:"resource_spec"`
	Region           string           `json:"region"`
	AvailableZone    *string          `json:"available_zone,omitempty"`
	ResourceSize     *int32           `json:"resource_size,omitempty"`
	SizeMeasureID    *int32           `json:"size_measure_id,omitempty"`
	UsageFactor      string           `json:"usage_factor"`
	UsageValue       *decimal.Decimal `json:"usage_value"`
	UsageMeasureID   int32            `json:"usage_measure_id"`
	SubscriptionNum  int32            `json:"subscription_num"`
}

type bssRateRequest struct {
	ProjectID        string           `json:"project_id"`
	InquiryPrecision *int32           `json:"inquiry_precision,omitempty"`
	ProductInfos     []bssProductInfo `json:"product_infos"`
}

type bssRatingResult struct {
	ID                    string          `json:"id"`
	ProductID             string          `json:"product_id"`
	Amount                decimal.Decimal `json:"amount"`
	DiscountAmount        decimal.Decimal `json:"discount_amount"`
	OfficialWebsiteAmount decimal.Decimal `json:"official_website_amount"`
	MeasureID             int32           `json:"measure_id"`
}

type bssRateResponse struct {
	Amount                decimal.Decimal   `json:"amount"`
	DiscountAmount        decimal.Decimal   `json:"discount_amount"`
	OfficialWebsiteAmount decimal.Decimal   `json:"official_website_amount"`
	MeasureID             int32             `json:"measure_id"`
	Currency              string            `json:"currency"`
	ProductRatingResults  []bssRatingResult `json:"product_rating_results"`
}

// handleBSSRatings serves ListOnDemandResourceRatings with what wrap does for
// the other APIs: body limit, signature, faults, request id and counter.
func (s *Server) handleBSSRatings() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
		defer func() { s.requests.WithLabelValues("bss", bssRatingsAPI, fmt.Sprint(w.code)).Inc() }()
		body, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			s.writeError(w, r, err, "bss")
			return
		}
		if err := verifySignature(r, body, s.cfg.AccessKey, string(s.cfg.SecretKey), s.wall.Now(), s.cfg.MaxClockSkew); err != nil {
			s.writeError(w, r, gatewayError(http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: "+err.Error()), "bss")
			return
		}
		if r.Header.Get("X-Domain-Id") == "" {
			s.writeError(w, r, gatewayError(http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: BSS is a global service: sign with global credentials carrying the domain id (X-Domain-Id)"), "bss")
			return
		}
		if err := s.injectFault(r.Context(), bssRatingsAPI); err != nil {
			s.writeError(w, r, err, "bss")
			return
		}
		resp, err := s.rateOnDemand(body)
		if err != nil {
			s.writeError(w, r, err, "bss")
			return
		}
		s.setRequestID(w, r)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(resp)
	})
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, gatewayError(http.StatusRequestEntityTooLarge, "APIGW.0201", fmt.Sprintf("Request body too large: more than %d bytes", limit))
	case err != nil:
		return nil, gatewayError(http.StatusBadRequest, "APIGW.0201", "Bad request: reading the body failed: "+err.Error())
	}
	return buf.Bytes(), nil
}

func bssInvalid(format string, a ...any) error {
	return gatewayError(http.StatusBadRequest, bssInvalidParam, "Invalid parameter: "+fmt.Sprintf(format, a...))
}

// rateOnDemand prices every product or refuses the whole request, as BSS
// does when one product cannot be found.
func (s *Server) rateOnDemand(body []byte) (*bssRateResponse, error) {
	var req bssRateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, bssInvalid("the body is not a RateOnDemandReq: %v", err)
	}
	switch {
	case req.ProjectID == "" || len(req.ProjectID) > 64:
		return nil, bssInvalid("project_id is required, at most 64 characters")
	case req.ProjectID != s.cfg.ProjectID:
		return nil, gatewayError(http.StatusForbidden, bssForbidden, fmt.Sprintf("Access denied: project %q is not the project of this account", req.ProjectID))
	case len(req.ProductInfos) == 0 || len(req.ProductInfos) > bssMaxProducts:
		return nil, bssInvalid("product_infos has %d entries: give 1..%d", len(req.ProductInfos), bssMaxProducts)
	case req.InquiryPrecision != nil && *req.InquiryPrecision != 0 && *req.InquiryPrecision != 1:
		return nil, bssInvalid("inquiry_precision %d is not 0 or 1", *req.InquiryPrecision)
	}
	out := &bssRateResponse{MeasureID: 1, Currency: "CNY"}
	seen := map[string]bool{}
	for _, p := range req.ProductInfos {
		switch {
		case p.ID == "" || len(p.ID) > 64:
			return nil, bssInvalid("product_infos.id is required, at most 64 characters")
		case seen[p.ID]:
			return nil, bssInvalid("product_infos.id %q is repeated: ids must be unique in one inquiry", p.ID)
		case p.CloudServiceType != "hws.service.type.ec2" || p.ResourceType != "hws.resource.type.vm":
			return nil, bssInvalid("product %q: simcloud prices only ECS servers (hws.service.type.ec2, hws.resource.type.vm), not %s/%s", p.ID, p.CloudServiceType, p.ResourceType)
		case p.Region == "":
			return nil, bssInvalid("product %q: region is required", p.ID)
		case !strings.EqualFold(p.UsageFactor, "Duration"):
			return nil, bssInvalid("product %q: usage_factor %q: servers are billed by Duration", p.ID, p.UsageFactor)
		case p.UsageMeasureID != 4:
			return nil, bssInvalid("product %q: usage_measure_id %d: simcloud prices hours (4)", p.ID, p.UsageMeasureID)
		case p.UsageValue == nil || !p.UsageValue.IsPositive():
			return nil, bssInvalid("product %q: usage_value must be positive", p.ID)
		case p.SubscriptionNum < 1:
			return nil, bssInvalid("product %q: subscription_num %d must be at least 1", p.ID, p.SubscriptionNum)
		}
		seen[p.ID] = true
		name, ok := strings.CutSuffix(p.ResourceSpec, ".linux")
		if !ok {
			name, ok = strings.CutSuffix(p.ResourceSpec, ".win")
		}
		if !ok {
			return nil, bssInvalid("product %q: resource_spec %q must end in .linux or .win", p.ID, p.ResourceSpec)
		}
		f, err := world.LookupFlavor(name)
		if err != nil {
			return nil, bssInvalid("product %q: no product found for %s in %s", p.ID, p.ResourceSpec, p.Region)
		}
		amount := decimal.NewFromFloat(f.PricePerHour).Mul(*p.UsageValue).Mul(decimal.NewFromInt32(p.SubscriptionNum))
		out.ProductRatingResults = append(out.ProductRatingResults, bssRatingResult{
			ID: p.ID, ProductID: "simcloud-" + p.ResourceSpec, Amount: amount, OfficialWebsiteAmount: amount, MeasureID: 1,
		})
		out.Amount = out.Amount.Add(amount)
		out.OfficialWebsiteAmount = out.OfficialWebsiteAmount.Add(amount)
	}
	return out, nil
}
