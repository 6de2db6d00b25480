// The binary unit (BGEMM, isa.py): per cycle one bit-plane of a BIN_IN-channel input row against
// BLOCK_OUT rows of BIN_IN weight sign bits (bit 1 = +1). Per lane o, with the lane's channel mask
// m_o (its group's channels and the row's first `valid` ones), two popcount trees give
//   t1 = popcount(x_j & w_o & m_o), t2 = popcount(x_j & m_o)       -> val = (2 t1 - t2) << j
// or, in XNOR mode (±1 activations, one sign-bit plane),
//   t1 = popcount((x ^ w_o) & m_o), t2 = popcount(m_o)            -> val = t2 - 2 t1
// two cycles after `en` (int32 lanes).
//
// The masks live in registers, rebuilt by `setup` when (group_in, group_out, valid) change: in one
// cycle when the row is not grouped (every lane gets the `valid` mask), else one lane per cycle
// (lane o's group starts at channel (o div group_out) * group_in). `ready` is low while rebuilding.
(* keep_hierarchy *)
module bin_lane #(
  parameter int BIN_IN = 64
) (
  input  logic              clk,
  input  logic              en,
  input  logic              xnor_mode,
  input  logic [4:0]        plane,
  input  logic [BIN_IN-1:0] x,
  input  logic [BIN_IN-1:0] w,
  input  logic [BIN_IN-1:0] m,
  output logic [31:0]       val
);
  localparam int CW = $clog2(BIN_IN + 1);
  logic [BIN_IN-1:0] a1, a2;
  logic [CW-1:0] c1, c2, t1, t2;
  logic valid1, xnor1;
  logic [4:0] plane1;

  assign a1 = xnor_mode ? (x ^ w) & m : x & w & m;
  assign a2 = xnor_mode ? m : x & m;
  adder_tree #(.N(BIN_IN), .W(1), .OW(CW), .SIGNED(0)) pop1 (.in(a1), .sum(c1));
  adder_tree #(.N(BIN_IN), .W(1), .OW(CW), .SIGNED(0)) pop2 (.in(a2), .sum(c2));

  always_ff @(posedge clk) begin
    valid1 <= en;
    if (en) begin
      t1 <= c1;
      t2 <= c2;
      xnor1 <= xnor_mode;
      plane1 <= plane;
    end
    if (valid1)
      val <= xnor1 ? 32'(t2) - (32'(t1) << 1) : ((32'(t1) << 1) - 32'(t2)) << plane1;
  end
endmodule

module binary_unit #(
  parameter int BLOCK_OUT = 16,
  parameter int BIN_IN = 64,
  parameter int MAX_BITS = 8
) (
  input  logic                          clk,
  input  logic                          rst,
  // mask setup
  input  logic                          setup,
  input  logic [7:0]                    group_in,
  input  logic [7:0]                    group_out,
  input  logic [8:0]                    valid,
  output logic                          ready,
  // datapath
  input  logic                          en,
  input  logic                          xnor_mode,
  input  logic [4:0]                    plane,
  input  logic [MAX_BITS*BIN_IN-1:0]    x_row,   // plane j: bits [j*BIN_IN, (j+1)*BIN_IN)
  input  logic [BLOCK_OUT*BIN_IN-1:0]   w_row,   // lane o: bits [o*BIN_IN, (o+1)*BIN_IN)
  output logic [BLOCK_OUT*32-1:0]       val
);
  localparam int OW = $clog2(BLOCK_OUT);
  logic [BLOCK_OUT*BIN_IN-1:0] masks;
  logic [BIN_IN-1:0] x, vmask, window;
  logic [24:0] key, cached;
  logic have_masks, building;
  logic [OW:0] lane;
  logic [7:0] in_group;
  logic [15:0] lo;

  always_comb begin
    x = x_row[BIN_IN-1:0];
    for (int j = 1; j < MAX_BITS; j = j + 1)
      if (32'(plane) == j) x = x_row[j*BIN_IN +: BIN_IN];
  end
  assign key = {group_in, group_out, valid};
  assign vmask = valid == 0 ? {BIN_IN{1'b1}} : ~({BIN_IN{1'b1}} << valid);
  assign window = ~({BIN_IN{1'b1}} << group_in) << lo;  // channels [lo, lo + group_in)
  assign ready = !building && have_masks && cached == key;

  always_ff @(posedge clk) begin
    if (rst) begin
      have_masks <= 1'b0;
      building <= 1'b0;
    end else if (setup && !(have_masks && cached == key) && !building) begin
      cached <= key;
      if (group_in == 0) begin
        masks <= {BLOCK_OUT{vmask}};
        have_masks <= 1'b1;
      end else begin
        building <= 1'b1;
        lane <= 0;
        lo <= 0;
        in_group <= 0;
      end
    end else if (building) begin
      for (int o = 0; o < BLOCK_OUT; o = o + 1)
        if (32'(lane) == o) masks[o*BIN_IN +: BIN_IN] <= window & vmask;
      if (in_group + 1'b1 == group_out) begin
        in_group <= 0;
        lo <= lo + 16'(group_in);
      end else begin
        in_group <= in_group + 1'b1;
      end
      lane <= lane + 1'b1;
      if (32'(lane) == BLOCK_OUT - 1) begin
        building <= 1'b0;
        have_masks <= 1'b1;
      end
    end
  end

  generate
    for (genvar o = 0; o < BLOCK_OUT; o = o + 1) begin : g_lane
      bin_lane #(.BIN_IN(BIN_IN)) lane_o (
        .clk(clk), .en(en), .xnor_mode(xnor_mode), .plane(plane), .x(x),
        .w(w_row[o*BIN_IN +: BIN_IN]), .m(masks[o*BIN_IN +: BIN_IN]), .val(val[o*32 +: 32]));
    end
  endgenerate
endmodule
