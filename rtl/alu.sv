// The vector ALU: executes one ALU instruction (isa.py) over `rows` accumulator rows with ALU_LANES
// lanes, a row of BLOCK_OUT lanes in SEGS = BLOCK_OUT / ALU_LANES segments.
//
// A reader brings each row through the accumulator's compute port (`dst`, and `src` for add / min
// / max: two reads per row) into a two-row FIFO; the issuer feeds one segment per cycle to the lanes;
// results are gathered into the row and written back when its last segment leaves the lanes. A row
// thus takes max(SEGS, reads per row) cycles. The epilogue parameters (`param` row: scale, offset)
// are read once at the start. `src` and `dst` ranges must be disjoint or equal (rows are read before
// any row is written only within that rule).
module alu #(
  parameter int BLOCK_OUT = 16,
  parameter int ALU_LANES = 8
) (
  input  logic                     clk,
  input  logic                     rst,
  input  logic                     start,
  input  logic [191:0]             insn,
  output logic                     busy,
  output logic                     done,
  output logic                     acc_rd_en,
  output logic [15:0]              acc_rd_row,
  input  logic [BLOCK_OUT*32-1:0]  acc_rd_data,
  output logic                     acc_wr_en,
  output logic [15:0]              acc_wr_row,
  output logic [BLOCK_OUT*32-1:0]  acc_wr_data,
  output logic                     param_rd_en,
  output logic [15:0]              param_rd_row,
  input  logic [BLOCK_OUT*64-1:0]  param_rd_data
);
`include "isa_fields.svh"
  localparam int SEGS = BLOCK_OUT / ALU_LANES;
  localparam int SW = SEGS > 1 ? $clog2(SEGS) : 1;
  localparam int LAT = 3;       // alu_lane
  localparam int ROW = BLOCK_OUT * 32;
  localparam int LW = ALU_LANES * 32;

  logic [2:0] op;
  logic [15:0] dst, src, rows;
  logic [4:0] imm;
  logic two_reads, param_wait;
  logic [BLOCK_OUT*64-1:0] prm;
  // reader
  logic [15:0] rd_r;
  logic rd_second, arrive, arrive_row;
  logic [ROW-1:0] held_dst;
  logic [1:0] reserved;  // rows read (or being read) and not yet taken by the issuer
  // row FIFO
  logic f_out_valid, f_pop, f_in_ready;
  logic [2*ROW-1:0] f_out;
  logic [1:0] f_count;
  // issuer
  logic cur_valid;
  logic [2*ROW-1:0] cur;
  logic [SW-1:0] seg;
  logic [15:0] iss_r;
  logic issue, last_seg;
  // lanes and write-back
  logic [LW-1:0] lane_y;
  logic [LAT-1:0] v_pipe, last_pipe;
  logic [SW*LAT-1:0] seg_pipe;
  logic [16*LAT-1:0] row_pipe;
  logic [ROW-1:0] out_row, merged;
  logic [15:0] written;

  // --- reader -------------------------------------------------------------------------------------
  assign acc_rd_en = busy && !param_wait && rd_r < rows && (rd_second || reserved < 2 || f_pop);
  assign acc_rd_row = (rd_second ? src : dst) + rd_r;
  always_ff @(posedge clk) begin
    arrive <= acc_rd_en;
    arrive_row <= acc_rd_en && (rd_second || !two_reads);  // this read completes a row
    if (arrive && !arrive_row) held_dst <= acc_rd_data;
  end
  sync_fifo #(.W(2 * ROW), .DEPTH(2)) row_fifo (
    .clk(clk), .rst(rst || start), .in_valid(arrive && arrive_row), .in_ready(f_in_ready),
    .in_data(two_reads ? {acc_rd_data, held_dst} : {{ROW{1'b0}}, acc_rd_data}),
    .out_valid(f_out_valid), .out_ready(f_pop), .out_data(f_out), .count(f_count));

  // --- issuer: one segment per cycle --------------------------------------------------------------
  assign last_seg = SEGS == 1 || seg == SW'(SEGS - 1);
  assign issue = cur_valid;
  assign f_pop = f_out_valid && (!cur_valid || last_seg);

  generate
    for (genvar l = 0; l < ALU_LANES; l = l + 1) begin : g_lane
      logic [31:0] a, b, s, o;
      always_comb begin  // lane l of segment `seg`: a SEGS-way multiplexer per operand
        a = cur[l*32 +: 32];
        b = cur[ROW + l*32 +: 32];
        s = prm[l*32 +: 32];
        o = prm[ROW + l*32 +: 32];
        for (int g = 1; g < SEGS; g = g + 1)
          if (32'(seg) == g) begin
            a = cur[(g * ALU_LANES + l) * 32 +: 32];
            b = cur[ROW + (g * ALU_LANES + l) * 32 +: 32];
            s = prm[(g * ALU_LANES + l) * 32 +: 32];
            o = prm[ROW + (g * ALU_LANES + l) * 32 +: 32];
          end
      end
      alu_lane lane (.clk(clk), .en(issue), .op(op), .a(a), .b(b), .scale(s), .offset(o), .imm(imm),
                     .y(lane_y[l*32 +: 32]));
    end
  endgenerate

  // --- write-back: gather the segments of a row, write it with its last one -----------------------
  always_comb begin
    merged = out_row;
    for (int g = 0; g < SEGS; g = g + 1)
      if (SEGS == 1 || 32'(seg_pipe[SW*(LAT-1) +: SW]) == g) merged[g*LW +: LW] = lane_y;
  end
  assign acc_wr_en = v_pipe[LAT-1] && last_pipe[LAT-1];
  assign acc_wr_row = dst + row_pipe[16*(LAT-1) +: 16];
  assign acc_wr_data = merged;

  assign param_rd_en = start;
  assign param_rd_row = insn[ALU_PARAM +: ALU_PARAM_W];

  always_ff @(posedge clk) begin
    done <= 1'b0;
    if (rst) begin
      busy <= 1'b0;
      cur_valid <= 1'b0;
      v_pipe <= 0;
    end else if (start) begin
      op <= insn[ALU_OP +: ALU_OP_W];
      dst <= insn[ALU_DST +: ALU_DST_W];
      src <= insn[ALU_SRC +: ALU_SRC_W];
      rows <= insn[ALU_ROWS +: ALU_ROWS_W];
      imm <= insn[ALU_IMM +: ALU_IMM_W];
      two_reads <= insn[ALU_OP +: ALU_OP_W] == ALU_ADD || insn[ALU_OP +: ALU_OP_W] == ALU_MIN ||
                   insn[ALU_OP +: ALU_OP_W] == ALU_MAX;
      param_wait <= 1'b1;
      rd_r <= 0;
      rd_second <= 1'b0;
      reserved <= 0;
      cur_valid <= 1'b0;
      seg <= 0;
      iss_r <= 0;
      written <= 0;
      v_pipe <= 0;
      busy <= 1'b1;
    end else if (busy) begin
      if (param_wait) begin
        prm <= param_rd_data;
        param_wait <= 1'b0;
      end
      // reader
      if (acc_rd_en) begin
        if (two_reads && !rd_second) begin
          rd_second <= 1'b1;
        end else begin
          rd_second <= 1'b0;
          rd_r <= rd_r + 1'b1;
        end
      end
      reserved <= reserved + 2'(acc_rd_en && !rd_second) - 2'(f_pop);
      // issuer
      if (f_pop) begin
        cur <= f_out;
        cur_valid <= 1'b1;
        seg <= 0;
      end else if (cur_valid) begin
        if (last_seg) cur_valid <= 1'b0;
        else seg <= seg + 1'b1;
      end
      if (cur_valid && last_seg) iss_r <= iss_r + 1'b1;
      // lane pipeline bookkeeping
      v_pipe <= {v_pipe[LAT-2:0], issue};
      last_pipe <= {last_pipe[LAT-2:0], last_seg};
      seg_pipe <= {seg_pipe[SW*(LAT-1)-1:0], seg};
      row_pipe <= {row_pipe[16*(LAT-1)-1:0], iss_r};
      if (v_pipe[LAT-1]) out_row <= merged;
      if (acc_wr_en) written <= written + 1'b1;
      if (written == rows) begin
        busy <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
