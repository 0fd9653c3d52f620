package simcloud

import (
	"strconv"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// spotRequest reads CreateServers' extendparam as ECS does
// (docs/cloud-api.md, ecs-spot-*): marketType spot asks for spot servers,
// pay-per-use only, without auto-recovery; spotPrice, when given, is a
// decimal bid per hour between the market price and the on-demand price;
// interruption_policy is immediate, and a spot block's duration
// (spot_duration_hours, spot_duration_count) comes only with it.
func (s *Server) spotRequest(e *ecsmodel.PrePaidServerExtendParam, wr world.CreateServersRequest) (bool, error) {
	if e == nil || e.MarketType == nil || *e.MarketType == "" {
		return false, nil
	}
	if *e.MarketType != "spot" {
		return false, badRequest("ecs", "server.extendparam.marketType %q must be spot or absent", *e.MarketType)
	}
	switch {
	case e.ChargingMode != nil && e.ChargingMode.Value() == "prePaid":
		return false, badRequest("ecs", "server.extendparam.marketType spot needs chargingMode postPaid: spot servers are pay-per-use")
	case e.SupportAutoRecovery != nil && *e.SupportAutoRecovery:
		return false, badRequest("ecs", "server.extendparam.support_auto_recovery is not supported with marketType spot")
	}
	if e.SpotPrice != nil && *e.SpotPrice != "" {
		bid, err := strconv.ParseFloat(*e.SpotPrice, 64)
		if err != nil || !(bid > 0) {
			return false, badRequest("ecs", "server.extendparam.spotPrice %q is not a positive decimal price per hour", *e.SpotPrice)
		}
		f, err := world.LookupFlavor(wr.Flavor)
		if err != nil {
			return false, badRequest("ecs", "server.flavorRef: %v", err)
		}
		if bid > f.PricePerHour {
			return false, badRequest("ecs", "server.extendparam.spotPrice %s is above the on-demand price %g of %s: bid at most the on-demand price", *e.SpotPrice, f.PricePerHour, wr.Flavor)
		}
		if market, ok := s.world.SpotMarketPrice(wr.Tags, wr.Flavor); ok && bid < market {
			return false, badRequest("ecs", "server.extendparam.spotPrice %s is below the market price %g of %s: bid at least the market price", *e.SpotPrice, market, wr.Flavor)
		}
	}
	if p := e.InterruptionPolicy; p != nil && p.Value() != "immediate" {
		return false, badRequest("ecs", "server.extendparam.interruption_policy %q must be immediate", p.Value())
	}
	if h := e.SpotDurationHours; h != nil {
		switch {
		case e.InterruptionPolicy == nil:
			return false, badRequest("ecs", "server.extendparam.spot_duration_hours needs interruption_policy immediate")
		case *h <= 0:
			return false, badRequest("ecs", "server.extendparam.spot_duration_hours %d must be above 0", *h)
		case *h < 6 && e.SpotDurationCount != nil && *e.SpotDurationCount != 1:
			return false, badRequest("ecs", "server.extendparam.spot_duration_count %d must be 1 when spot_duration_hours is below 6", *e.SpotDurationCount)
		}
	} else if e.SpotDurationCount != nil {
		return false, badRequest("ecs", "server.extendparam.spot_duration_count needs spot_duration_hours above 0")
	}
	return true, nil
}
