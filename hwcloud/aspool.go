package hwcloud

import (
	"context"
	"net/http"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

func (a *asClient) WarmPool(ctx context.Context, id string) (int, error) {
	resp, err := invoke[asmodel.ShowWarmPoolResponse](ctx, a.c, "ShowWarmPool",
		a.sdk.ShowWarmPoolInvoker(&asmodel.ShowWarmPoolRequest{ScalingGroupId: id}).BaseInvoker)
	if StatusCode(err) == http.StatusNotFound {
		return 0, nil // no pool configured
	}
	if err != nil || resp.WarmPool == nil {
		return 0, err
	}
	return intOr(resp.WarmPool.MaxCapacity, 0), nil
}

func (a *asClient) PutWarmPool(ctx context.Context, id string, size int) error {
	n := int32(size)
	_, err := invoke[asmodel.PutWarmPoolResponse](ctx, a.c, "PutWarmPool",
		a.sdk.PutWarmPoolInvoker(&asmodel.PutWarmPoolRequest{ScalingGroupId: id,
			Body: &asmodel.PutWarmPoolOption{MinCapacity: &n, MaxCapacity: &n}}).BaseInvoker)
	return err
}
