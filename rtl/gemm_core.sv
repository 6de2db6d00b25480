// The int8 GEMM core: per cycle one BLOCK_IN-byte input vector (uint8, or int8 when `signed_in`)
// times the BLOCK_OUT x BLOCK_IN int8 weight block, `dot[o]` = sum_c w[o][c] * x[c] as int32
// lanes, two cycles after `en`.
//
// Lanes are paired on DSP blocks: one 25 x 9-bit multiply computes both products of an input byte,
// (w_hi * 2^16 + w_lo) * x, whose low 16 bits are w_lo * x and whose bits 31..16 plus the sign of the
// low part are w_hi * x (each product fits 16 signed bits: |int8 * uint8| <= 32640), so the core takes
// BLOCK_IN * BLOCK_OUT / 2 DSPs (the resource model's 0.5 DSP per int8 MAC). The products are summed
// by one adder tree per lane.
(* keep_hierarchy *)
module gemm_lane_pair #(
  parameter int BLOCK_IN = 16
) (
  input  logic                  clk,
  input  logic                  en,
  input  logic                  signed_in,
  input  logic [BLOCK_IN*8-1:0] x,
  input  logic [BLOCK_IN*8-1:0] w_lo,
  input  logic [BLOCK_IN*8-1:0] w_hi,
  output logic [31:0]           dot_lo,
  output logic [31:0]           dot_hi
);
  localparam int SW = 16 + $clog2(BLOCK_IN);
  logic [BLOCK_IN*16-1:0] lo, hi;
  logic valid1;
  logic [SW-1:0] sum_lo, sum_hi;

  generate
    for (genvar c = 0; c < BLOCK_IN; c = c + 1) begin : g_mac
      logic signed [24:0] packed_w;
      logic signed [8:0] xa;
      logic signed [33:0] p;
      assign packed_w = $signed({w_hi[c*8 +: 8], 16'd0}) + 25'($signed(w_lo[c*8 +: 8]));
      assign xa = signed_in ? 9'($signed(x[c*8 +: 8])) : {1'b0, x[c*8 +: 8]};
      always_ff @(posedge clk)
        if (en) p <= packed_w * xa;
      assign lo[c*16 +: 16] = p[15:0];
      assign hi[c*16 +: 16] = p[31:16] + {15'd0, p[15]};
    end
  endgenerate

  adder_tree #(.N(BLOCK_IN), .W(16), .OW(SW), .SIGNED(1)) tree_lo (.in(lo), .sum(sum_lo));
  adder_tree #(.N(BLOCK_IN), .W(16), .OW(SW), .SIGNED(1)) tree_hi (.in(hi), .sum(sum_hi));

  always_ff @(posedge clk) begin
    valid1 <= en;
    if (valid1) begin
      dot_lo <= 32'($signed(sum_lo));
      dot_hi <= 32'($signed(sum_hi));
    end
  end
endmodule

module gemm_core #(
  parameter int BLOCK_IN = 16,
  parameter int BLOCK_OUT = 16
) (
  input  logic                            clk,
  input  logic                            en,
  input  logic                            signed_in,
  input  logic [BLOCK_IN*8-1:0]           x,
  input  logic [BLOCK_OUT*BLOCK_IN*8-1:0] w,     // lane o: bytes [o*BLOCK_IN, (o+1)*BLOCK_IN)
  output logic [BLOCK_OUT*32-1:0]         dot
);
  generate
    for (genvar p = 0; p < BLOCK_OUT / 2; p = p + 1) begin : g_pair
      gemm_lane_pair #(.BLOCK_IN(BLOCK_IN)) pair (
        .clk(clk), .en(en), .signed_in(signed_in), .x(x),
        .w_lo(w[(2*p)*BLOCK_IN*8 +: BLOCK_IN*8]), .w_hi(w[(2*p+1)*BLOCK_IN*8 +: BLOCK_IN*8]),
        .dot_lo(dot[(2*p)*32 +: 32]), .dot_hi(dot[(2*p+1)*32 +: 32]));
    end
  endgenerate
endmodule
