"""Phase-1 tiny model: overfits fixed synthetic triplets; t = 0 / t = 1 return the inputs after training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vfi_lib.model import create_model


def moving_square_triplets(g: torch.Generator, n: int = 4, size: int = 32, side: int = 12, step: int = 6):
    """n triplets (img0, gt at t = 0.5, img1), each (n, 3, size, size): a bright textured square moves
    by ``step`` px (right, left, down, up in turn) over a dark static textured background. The linear
    blend of the inputs is a poor guess (two half-transparent squares), so beating it needs motion."""

    def smooth(c: int, s: int, cells: int) -> torch.Tensor:
        z = torch.rand(n, c, cells, cells, generator=g)
        return F.interpolate(z, size=(s, s), mode="bicubic", align_corners=False).clamp(0, 1)

    dirs = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1]])
    bg, fg = 0.4 * smooth(3, size, 6), 0.6 + 0.4 * smooth(3, side, 4)
    frames = [bg.clone() for _ in range(3)]
    pos = torch.randint(step, size - side - step + 1, (n, 2), generator=g)
    for i in range(n):
        v = dirs[i % 4] * step
        for k, frac in enumerate((0.0, 0.5, 1.0)):
            y, x = int(pos[i, 0] + v[1] * frac), int(pos[i, 1] + v[0] * frac)
            frames[k][i, :, y : y + side, x : x + side] = fg[i]
    return frames


def test_phase1_overfits_and_respects_endpoints() -> None:
    torch.manual_seed(0)
    img0, gt, img1 = moving_square_triplets(torch.Generator().manual_seed(0))
    model = create_model("phase1_hybrid", tiny=True)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    with torch.no_grad():
        init = F.mse_loss(model(img0, img1, 0.5), gt).item()
    for _ in range(150):
        loss = F.mse_loss(model(img0, img1, 0.5), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mid, aux = model(img0, img1, 0.5, return_aux=True)
        at0, at1 = model(img0, img1, 0.0), model(img0, img1, 1.0)
        near0 = model(img0, img1, 0.05, return_aux=True)[1]["residual"]
    final = F.mse_loss(mid, gt).item()
    assert final < init / 5, f"MSE at t=0.5 went {init:.4g} -> {final:.4g}; expected a >5x reduction"
    # the trained model really edits the middle frame, yet returns the inputs at the endpoints
    res = aux["residual"].abs().mean().item()
    assert res > 0.01, res
    torch.testing.assert_close(at0, img0, rtol=0, atol=1e-6)
    torch.testing.assert_close(at1, img1, rtol=0, atol=1e-6)
    assert 0 < near0.abs().mean().item() < 0.5 * res  # the correction fades towards t = 0
