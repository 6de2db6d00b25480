// IEEE-754 binary32 units of the vector ALU, combinational (the ALU lane registers between them).
//
// Contract: bit-exact with numpy float32 on x86-64 (SSE semantics), which is what the Python
// simulator computes: round to nearest even, gradual underflow (subnormal inputs and outputs, no
// flush to zero), overflow to infinity; a NaN operand gives that operand quieted (the first one if
// both are NaN), an invalid operation (inf - inf, 0 * inf) the x86 default NaN 0xFFC00000.

// Leading zeros of an N-bit value (N a power of two; N for zero): the leading zeros of the upper
// half, or half plus those of the lower half, recursively.
module lzc #(
  parameter int N = 64
) (
  input  logic [N-1:0]         v,
  output logic [$clog2(N):0]   n
);
  generate
    if (N == 2) begin : g_base
      assign n = v[1] ? 2'd0 : (v[0] ? 2'd1 : 2'd2);
    end else begin : g_split
      logic [$clog2(N)-1:0] nh, nl;
      lzc #(.N(N / 2)) hi (.v(v[N-1:N/2]), .n(nh));
      lzc #(.N(N / 2)) lo (.v(v[N/2-1:0]), .n(nl));
      assign n = nh[$clog2(N)-1] ? ($clog2(N)+1)'(N / 2) + ($clog2(N)+1)'(nl) : ($clog2(N)+1)'(nh);
    end
  endgenerate
endmodule

// The bits of `v` below bit `n` are not all zero (the sticky bit of a right shift by n).
module sticky_below #(
  parameter int N = 48
) (
  input  logic [N-1:0] v,
  input  logic [7:0]   n,
  output logic         s
);
  logic [N-1:0] below;
  always_comb
    for (int i = 0; i < N; i = i + 1) below[i] = 8'(i) < n;
  assign s = (v & below) != 0;
endmodule

// Rounds a normalized significand to binary32: `mant` (24 bits, hidden bit at 23; 0 for a
// subnormal's leading bits), guard bit and sticky bit, biased exponent `exp` (>= 1; 1 for
// subnormals). Returns the magnitude bits (sign excluded), infinity on overflow.
module fp32_round (
  input  logic [23:0] mant,
  input  logic        guard,
  input  logic        sticky,
  input  logic [10:0] exp,
  output logic [30:0] mag
);
  logic [24:0] rounded;
  logic [31:0] sum;
  always_comb begin
    rounded = {1'b0, mant} + {24'd0, guard & (sticky | mant[0])};
    // (exp - 1) << 23 plus the significand: a carry out of the hidden bit moves into the exponent,
    // and a subnormal whose rounding reaches 2^23 becomes the smallest normal number.
    sum = (({21'd0, exp} - 32'd1) << 23) + {7'd0, rounded};
    mag = (sum >= 32'h7F800000) ? 31'h7F800000 : sum[30:0];
  end
endmodule

module fp32_mul (input logic [31:0] a, input logic [31:0] b, output logic [31:0] y);
  logic a_nan, b_nan, a_inf, b_inf, a_zero, b_zero, sign;
  logic [23:0] ma, mb;
  logic [47:0] prod, norm, denorm;
  logic [6:0] lz;
  logic [11:0] ea, eb;
  logic signed [11:0] e;
  logic [5:0] rs;
  logic lost;
  logic [10:0] exp;
  logic [30:0] mag;

  assign a_nan = a[30:23] == 8'hFF && a[22:0] != 0;
  assign b_nan = b[30:23] == 8'hFF && b[22:0] != 0;
  assign a_inf = a[30:23] == 8'hFF && a[22:0] == 0;
  assign b_inf = b[30:23] == 8'hFF && b[22:0] == 0;
  assign a_zero = a[30:0] == 0;
  assign b_zero = b[30:0] == 0;
  assign sign = a[31] ^ b[31];
  assign ma = {a[30:23] != 0, a[22:0]};
  assign mb = {b[30:23] != 0, b[22:0]};
  assign ea = a[30:23] == 0 ? 12'd1 : {4'd0, a[30:23]};  // subnormals have exponent 1
  assign eb = b[30:23] == 0 ? 12'd1 : {4'd0, b[30:23]};
  assign prod = {24'd0, ma} * {24'd0, mb};

  lzc #(.N(64)) count (.v({prod, 16'd0}), .n(lz));
  // normalized: leading one at bit 47, biased exponent ea + eb - 126 - lz; below exponent 1 the
  // significand is shifted right (a subnormal result), the shifted-out bits kept as sticky
  assign norm = prod << lz[5:0];
  assign e = $signed(ea + eb - 12'd126 - {5'd0, lz});
  assign rs = e >= 1 ? 6'd0 : (e < -40 ? 6'd48 : 6'(12'd1 - e));  // 48: every bit shifted out
  assign denorm = norm >> rs;
  sticky_below #(.N(48)) shifted_out (.v(norm), .n({2'd0, rs}), .s(lost));
  assign exp = e >= 1 ? e[10:0] : 11'd1;

  fp32_round round (.mant(denorm[47:24]), .guard(denorm[23]), .sticky(denorm[22:0] != 0 || lost), .exp(exp), .mag(mag));

  always_comb begin
    if (a_nan) y = a | 32'h00400000;
    else if (b_nan) y = b | 32'h00400000;
    else if ((a_inf && b_zero) || (a_zero && b_inf)) y = 32'hFFC00000;
    else if (a_inf || b_inf) y = {sign, 31'h7F800000};
    else if (a_zero || b_zero) y = {sign, 31'd0};
    else y = {sign, mag};
  end
endmodule

module fp32_add (input logic [31:0] a, input logic [31:0] b, output logic [31:0] y);
  logic a_nan, b_nan, a_inf, b_inf, swap, sub;
  logic [31:0] larger, lesser;
  logic [7:0] ex, ey;
  logic [26:0] x, yal;
  logic [27:0] z;
  logic [26:0] n;
  logic [6:0] lz;
  logic [7:0] d, sh;
  logic [26:0] ys;
  logic lost;
  logic [10:0] exp;
  logic [30:0] mag;

  assign a_nan = a[30:23] == 8'hFF && a[22:0] != 0;
  assign b_nan = b[30:23] == 8'hFF && b[22:0] != 0;
  assign a_inf = a[30:23] == 8'hFF && a[22:0] == 0;
  assign b_inf = b[30:23] == 8'hFF && b[22:0] == 0;
  assign swap = a[30:0] < b[30:0];
  assign larger = swap ? b : a;
  assign lesser = swap ? a : b;
  assign sub = a[31] ^ b[31];
  assign ex = larger[30:23] == 0 ? 8'd1 : larger[30:23];
  assign ey = lesser[30:23] == 0 ? 8'd1 : lesser[30:23];
  assign d = ex - ey;
  // significands with three extra bits (guard, round, sticky); the smaller one aligned, the bits
  // shifted out ORed into the sticky bit
  assign x = {larger[30:23] != 0, larger[22:0], 3'b000};
  assign ys = {lesser[30:23] != 0, lesser[22:0], 3'b000};
  sticky_below #(.N(27)) shifted_out (.v(ys), .n(d), .s(lost));
  assign yal = (d >= 27 ? 27'd0 : ys >> d[4:0]) | {26'd0, lost};
  assign z = sub ? {1'b0, x} - {1'b0, yal} : {1'b0, x} + {1'b0, yal};
  lzc #(.N(64)) count (.v({z[26:0], 37'd0}), .n(lz));

  always_comb begin
    if (z[27]) begin
      n = {z[27:2], z[1] | z[0]};
      exp = {3'd0, ex} + 11'd1;
      sh = 0;
    end else begin
      sh = ({1'b0, lz} > ex - 8'd1) ? ex - 8'd1 : {1'b0, lz};  // no shift below exponent 1: a subnormal result
      n = z[26:0] << sh[4:0];  // sh <= 26
      exp = {3'd0, ex} - {3'd0, sh};
    end
  end

  fp32_round round (.mant(n[26:3]), .guard(n[2]), .sticky(n[1] | n[0]), .exp(exp), .mag(mag));

  always_comb begin
    if (a_nan) y = a | 32'h00400000;
    else if (b_nan) y = b | 32'h00400000;
    else if (a_inf && b_inf && sub) y = 32'hFFC00000;
    else if (a_inf) y = a;
    else if (b_inf) y = b;
    else if (z == 0) y = {a[31] & b[31], 31'd0};  // exact cancellation: +0, except -0 + -0
    else y = {larger[31], mag};
  end
endmodule

// int32 -> binary32, round to nearest even.
module int_to_fp32 (input logic [31:0] v, output logic [31:0] y);
  logic [31:0] m, norm;
  logic [5:0] lz;
  logic [30:0] mag;
  assign m = v[31] ? 32'd0 - v : v;
  lzc #(.N(32)) count (.v(m), .n(lz));
  assign norm = m << lz[4:0];
  fp32_round round (.mant(norm[31:8]), .guard(norm[7]), .sticky(norm[6:0] != 0), .exp(11'd158 - {5'd0, lz}), .mag(mag));
  assign y = v == 0 ? 32'd0 : {v[31], mag};
endmodule

// numpy's maximum / minimum on binary32: a NaN operand is returned as it is (the first one if both
// are), else the larger (smaller) one, `b` when they compare equal (so max(-0, +0) = +0 and
// max(+0, -0) = -0).
module fp32_minmax (input logic [31:0] a, input logic [31:0] b, input logic is_max, output logic [31:0] y);
  logic a_nan, b_nan, a_lt_b, b_lt_a;
  assign a_nan = a[30:23] == 8'hFF && a[22:0] != 0;
  assign b_nan = b[30:23] == 8'hFF && b[22:0] != 0;
  // order of non-NaN values: map to unsigned keys (negative values reversed), both zeros equal
  function automatic [31:0] key(input [31:0] f);
    key = f[31] ? ~f : f | 32'h80000000;
  endfunction
  assign a_lt_b = !(a[30:0] == 0 && b[30:0] == 0) && key(a) < key(b);
  assign b_lt_a = !(a[30:0] == 0 && b[30:0] == 0) && key(b) < key(a);
  assign y = a_nan ? a : b_nan ? b : (is_max ? (b_lt_a ? a : b) : (a_lt_b ? a : b));
endmodule
