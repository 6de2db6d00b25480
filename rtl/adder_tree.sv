// Sum of N (a power of two) W-bit operands, signed or unsigned, as an OW-bit result: a balanced
// binary tree of adders (two half-size trees and one adder, recursively). With W = 1, unsigned, it
// is the popcount tree of the binary unit.
module adder_tree #(
  parameter int N = 32,
  parameter int W = 16,
  parameter int OW = 21,
  parameter int SIGNED = 1
) (
  input  logic [N*W-1:0] in,
  output logic [OW-1:0]  sum
);
  generate
    if (N == 1) begin : g_leaf
      if (SIGNED != 0) begin : g_s
        assign sum = OW'($signed(in));
      end else begin : g_u
        assign sum = OW'(in);
      end
    end else begin : g_node
      logic [OW-1:0] a, b;
      adder_tree #(.N(N / 2), .W(W), .OW(OW), .SIGNED(SIGNED)) lo (.in(in[N/2*W-1:0]), .sum(a));
      adder_tree #(.N(N / 2), .W(W), .OW(OW), .SIGNED(SIGNED)) hi (.in(in[N*W-1:N/2*W]), .sum(b));
      assign sum = a + b;
    end
  endgenerate
endmodule
