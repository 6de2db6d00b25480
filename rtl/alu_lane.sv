// One lane of the vector ALU (ALU instruction, isa.py), three cycles from `en` to `y`:
//   affine: scale != 0 ? (float(a) + offset) * scale : offset   (int32 a; one rounding per operation,
//           the add before the multiply, as the simulator and the CPU kernels compute it)
//   add: a + b;  relu: max(a, +0);  min / max: numpy's minimum / maximum;  shr: int32 a >>> imm
// Float operations are binary32, bit-exact with numpy (fp32_units.sv).
(* keep_hierarchy *)
module alu_lane (
  input  logic        clk,
  input  logic        en,
  input  logic [2:0]  op,
  input  logic [31:0] a,
  input  logic [31:0] b,
  input  logic [31:0] scale,
  input  logic [31:0] offset,
  input  logic [4:0]  imm,
  output logic [31:0] y
);
`include "isa_fields.svh"
  // stage 1: int32 -> float32
  logic [31:0] conv;
  logic [2:0] op1;
  logic [31:0] a1, b1, scale1, offset1, conv1;
  logic [4:0] imm1;
  logic en1;
  int_to_fp32 to_float (.v(a), .y(conv));

  // stage 2: add, compare, shift
  logic [31:0] sum, mm, sum_a, sum_b;
  logic [2:0] op2;
  logic [31:0] r2, scale2, offset2;
  logic en2;
  assign sum_a = op1 == ALU_AFFINE ? conv1 : a1;
  assign sum_b = op1 == ALU_AFFINE ? offset1 : b1;
  fp32_add adder (.a(sum_a), .b(sum_b), .y(sum));
  fp32_minmax compare (.a(a1), .b(op1 == ALU_RELU ? 32'd0 : b1), .is_max(op1 != ALU_MIN), .y(mm));

  // stage 3: multiply, select
  logic [31:0] prod;
  fp32_mul multiplier (.a(r2), .b(scale2), .y(prod));

  always_ff @(posedge clk) begin
    en1 <= en;
    if (en) begin
      op1 <= op;
      a1 <= a;
      b1 <= b;
      scale1 <= scale;
      offset1 <= offset;
      imm1 <= imm;
      conv1 <= conv;
    end
    en2 <= en1;
    if (en1) begin
      op2 <= op1;
      scale2 <= scale1;
      offset2 <= offset1;
      case (op1)
        ALU_AFFINE, ALU_ADD: r2 <= sum;
        ALU_RELU, ALU_MIN, ALU_MAX: r2 <= mm;
        default: r2 <= $unsigned($signed(a1) >>> imm1);
      endcase
    end
    if (en2) begin
      if (op2 == ALU_AFFINE) y <= scale2[30:0] != 0 ? prod : offset2;  // -0.0 == 0 too, NaN != 0
      else y <= r2;
    end
  end
endmodule
