"""The Llama family written the straightforward way in PyTorch, in float64: the reference that
tformer's Llama logits, hidden states, attention, generation and training are checked against.
HF's layout and names (q/k/v/o, gate/up/down as nn.Linear [out, in]); RMSNorm, rotary
embeddings in HF's half-split layout (rotate_half) with linear and llama3 scaling, grouped-query
attention by repeat_interleave, SwiGLU. meta_forward() is an independent formulation of the same
function (Meta's interleaved complex rotary on un-permuted q/k) that the reference is checked
against once."""
import json
import math
import os

import torch
import torch.nn.functional as F

from torch_gpt import write_safetensors


def inv_freq(cfg):
    """transformers' modeling_rope_utils: default, linear, llama3."""
    HS = head_dim(cfg)
    rp = cfg.get("rope_parameters") or {}  # transformers 5
    theta = rp.get("rope_theta", cfg.get("rope_theta", 10000.0))
    f = 1.0 / theta ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    s = cfg.get("rope_scaling") or rp
    if s.get("rope_type", s.get("type", "default")) == "default":
        return f
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":
        return f / s["factor"]
    assert kind == "llama3"
    factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / f
    f_llama = torch.where(wavelen > old / lo, f / factor, f)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * f_llama / factor + smooth * f_llama
    medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
    return torch.where(medium, smoothed, f_llama)


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


class Llama(torch.nn.Module):
    def __init__(self, cfg, seed=0):
        super().__init__()
        self.cfg = cfg
        V, C, I, L = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
        NH = cfg["num_attention_heads"]
        NKV = cfg.get("num_key_value_heads", NH)
        HS = head_dim(cfg)
        qwen = cfg.get("model_type") == "qwen2"
        qkv_bias = qwen or cfg.get("attention_bias", False)
        o_bias = not qwen and cfg.get("attention_bias", False)
        mlp_bias = cfg.get("mlp_bias", False)
        g = torch.Generator().manual_seed(seed)

        def normal(*shape, std=0.05):  # float32 values: what tformer loads is exactly this
            return (torch.randn(*shape, generator=g) * std).float().double()

        p = {"model.embed_tokens.weight": normal(V, C, std=0.5)}
        for l in range(L):
            h = f"model.layers.{l}."
            # Norm weights and biases random too, so that a wrong use of them shows.
            p[h + "input_layernorm.weight"] = 1 + normal(C, std=0.1)
            p[h + "self_attn.q_proj.weight"] = normal(NH * HS, C, std=0.2)
            p[h + "self_attn.k_proj.weight"] = normal(NKV * HS, C, std=0.2)
            p[h + "self_attn.v_proj.weight"] = normal(NKV * HS, C, std=0.2)
            if qkv_bias:
                p[h + "self_attn.q_proj.bias"] = normal(NH * HS)
                p[h + "self_attn.k_proj.bias"] = normal(NKV * HS)
                p[h + "self_attn.v_proj.bias"] = normal(NKV * HS)
            p[h + "self_attn.o_proj.weight"] = normal(C, NH * HS, std=0.1)
            if o_bias:
                p[h + "self_attn.o_proj.bias"] = normal(C)
            p[h + "post_attention_layernorm.weight"] = 1 + normal(C, std=0.1)
            p[h + "mlp.gate_proj.weight"] = normal(I, C, std=0.2)
            p[h + "mlp.up_proj.weight"] = normal(I, C, std=0.2)
            p[h + "mlp.down_proj.weight"] = normal(C, I, std=0.1)
            if mlp_bias:
                p[h + "mlp.gate_proj.bias"] = normal(I)
                p[h + "mlp.up_proj.bias"] = normal(I)
                p[h + "mlp.down_proj.bias"] = normal(C)
        p["model.norm.weight"] = 1 + normal(C, std=0.1)
        if not cfg.get("tie_word_embeddings", False):
            p["lm_head.weight"] = normal(V, C, std=0.2)
        self.names = list(p)
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v) for k, v in p.items()})

    def param(self, name):
        return self.p[name.replace(".", "__")]

    def has(self, name):
        return name.replace(".", "__") in self.p

    def named(self):
        return [(n, self.param(n)) for n in self.names]

    def linear(self, x, name):
        y = x @ self.param(name + ".weight").t()
        return y + self.param(name + ".bias") if self.has(name + ".bias") else y

    def rmsnorm(self, x, name):
        eps = self.cfg.get("rms_norm_eps", 1e-6)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.param(name)

    def forward(self, idx, capture=None, rope="hf"):
        cfg = self.cfg
        B, T = idx.shape
        NH = cfg["num_attention_heads"]
        NKV = cfg.get("num_key_value_heads", NH)
        HS = head_dim(cfg)
        x = self.param("model.embed_tokens.weight")[idx]
        freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq(cfg)[None, :]  # (T, HS/2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()

        def rotate_half(v):
            v1, v2 = v[..., : HS // 2], v[..., HS // 2:]
            return torch.cat((-v2, v1), dim=-1)

        hiddens, atts = [x], []
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for l in range(cfg["num_hidden_layers"]):
            h = f"model.layers.{l}."
            a = self.rmsnorm(x, h + "input_layernorm.weight")
            if rope == "hf":
                q = self.linear(a, h + "self_attn.q_proj").view(B, T, NH, HS).transpose(1, 2)
                k = self.linear(a, h + "self_attn.k_proj").view(B, T, NKV, HS).transpose(1, 2)
                q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            else:
                q, k = self.meta_qk(a, h, B, T, NH, NKV, HS, freqs)
            v = self.linear(a, h + "self_attn.v_proj").view(B, T, NKV, HS).transpose(1, 2)
            k = k.repeat_interleave(NH // NKV, dim=1)
            v = v.repeat_interleave(NH // NKV, dim=1)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            atts.append(att)
            y = (att @ v).transpose(1, 2).reshape(B, T, NH * HS)
            x = x + self.linear(y, h + "self_attn.o_proj")
            m = self.rmsnorm(x, h + "post_attention_layernorm.weight")
            m = F.silu(self.linear(m, h + "mlp.gate_proj")) * self.linear(m, h + "mlp.up_proj")
            x = x + self.linear(m, h + "mlp.down_proj")
            hiddens.append(x)
        xf = self.rmsnorm(x, "model.norm.weight")
        head = self.param("lm_head.weight") if self.has("lm_head.weight") else self.param("model.embed_tokens.weight")
        logits = xf @ head.t()
        if capture is not None:
            capture.update(hidden=hiddens, att=atts, final=xf)
        return logits

    def meta_qk(self, a, h, B, T, NH, NKV, HS, freqs):
        """Meta's llama: q/k in the interleaved layout (pairs 2i, 2i+1 as complex numbers) times
        e^(i·pos·f). HF's conversion permuted the rows of Wq/Wk (and any bias) from Meta's layout
        into the half-split one; undo it here, rotate Meta's way, and the attention scores are the
        same because q and k share the permutation of their elements."""
        def unpermute(w, n):  # inverse of convert_llama_weights_to_hf.permute
            return w.reshape(n, 2, HS // 2, *w.shape[1:]).transpose(1, 2).reshape(n * HS, *w.shape[1:])

        def proj(name, n):
            y = a @ unpermute(self.param(name + ".weight"), n).t()
            if self.has(name + ".bias"):
                y = y + unpermute(self.param(name + ".bias"), n)
            return y.view(B, T, n, HS)

        rot = torch.polar(torch.ones_like(freqs), freqs)  # (T, HS/2)
        out = []
        for name, n in (("self_attn.q_proj", NH), ("self_attn.k_proj", NKV)):
            z = torch.view_as_complex(proj(h + name, n).reshape(B, T, n, HS // 2, 2).contiguous())
            z = torch.view_as_real(z * rot[None, :, None, :]).reshape(B, T, n, HS)
            out.append(z.transpose(1, 2))
        return out


def save_llama_dir(model, d, dtype="F32", shards=1, byte_tokenizer=False, extra=None):
    """config.json + model.safetensors, or `shards` files + model.safetensors.index.json."""
    os.makedirs(d, exist_ok=True)
    cfg = dict(model.cfg)
    cfg.setdefault("hidden_act", "silu")
    if byte_tokenizer:
        cfg["tformer_tokenizer"] = "byte"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    tensors = {n: p.detach().float() for n, p in model.named()}
    if extra:
        tensors.update(extra)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors, dtype)
        return
    names = list(tensors)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(d, fname), {n: tensors[n] for n in part}, dtype)
        weight_map.update({n: fname for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
