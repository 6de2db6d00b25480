// GEMM and BGEMM instructions (isa.py): the loop over (y, x, k[, bit-plane j]) issuing one input row
// x weight block per cycle to the int8 GEMM core or the binary unit, and the accumulation into the
// accumulator buffer.
//
// Pipeline (cycle of issue = 0): 0 read inp/wgt (bin_inp/bin_wgt) rows; 1 rows out of the buffers
// into the core; 3 the core's int32 lanes (dot products / bit-plane sums); 3 add into the running
// sum of this (y, x) (first item: start from it) and, on the last item of (y, x), read its
// accumulator row; 4 write row + sum back (a row written the cycle before is forwarded, so the
// same row may be accumulated by consecutive items). A reset GEMM writes zero rows, one per cycle.
// `done` pulses once the last row is written; a BGEMM first waits for the binary unit's masks.
module matmul #(
  parameter int BLOCK_IN = 16,
  parameter int BLOCK_OUT = 16,
  parameter int BIN_IN = 64,
  parameter int MAX_BITS = 8
) (
  input  logic                             clk,
  input  logic                             rst,
  input  logic                             start,
  input  logic [191:0]                     insn,
  output logic                             busy,
  output logic                             done,
  output logic                             inp_rd_en,
  output logic [15:0]                      inp_rd_row,
  input  logic [BLOCK_IN*8-1:0]            inp_rd_data,
  output logic                             wgt_rd_en,
  output logic [15:0]                      wgt_rd_row,
  input  logic [BLOCK_OUT*BLOCK_IN*8-1:0]  wgt_rd_data,
  output logic                             bin_inp_rd_en,
  output logic [15:0]                      bin_inp_rd_row,
  input  logic [MAX_BITS*BIN_IN-1:0]       bin_inp_rd_data,
  output logic                             bin_wgt_rd_en,
  output logic [15:0]                      bin_wgt_rd_row,
  input  logic [BLOCK_OUT*BIN_IN-1:0]      bin_wgt_rd_data,
  output logic                             acc_rd_en,
  output logic [15:0]                      acc_rd_row,
  input  logic [BLOCK_OUT*32-1:0]          acc_rd_data,
  output logic                             acc_wr_en,
  output logic [15:0]                      acc_wr_row,
  output logic [BLOCK_OUT*32-1:0]          acc_wr_data
);
`include "isa_fields.svh"
  localparam int ROW = BLOCK_OUT * 32;

  // the instruction (GEMM and BGEMM share the field layout up to `signed` / `bits`)
  logic binary, reset_rows, signed_in, xnor_mode;
  logic [15:0] wgt0, acc_y, inp_y, inp_k, wgt_k;
  logic [7:0] y_ext, x_ext;
  logic [11:0] k_ext;
  logic [3:0] acc_x, inp_x, bits;
  // loop state
  logic setting_up, issuing;
  logic [7:0] y, x;
  logic [11:0] k;
  logic [3:0] j;
  logic [15:0] in_y, in_x, in_a, w_a, acc_yb, acc_a;
  logic at_last_j, at_last_k, at_last_x, at_last_y;
  // pipeline: issue (0) -> 1 -> 2 -> 3 -> 4
  logic [3:1] v, first, last;
  logic [15:0] addr1, addr2, addr3, addr4;
  logic [3:0] plane1;
  logic v4;
  logic [ROW-1:0] dot, bval, val3, sum, sum_next, sum4, base4;
  logic fwd_valid;
  logic [15:0] fwd_row;
  logic [ROW-1:0] fwd_data;
  logic mask_ready;

  assign at_last_j = !binary || reset_rows || j == bits - 1'b1 || bits == 0;
  assign at_last_k = reset_rows || k == k_ext - 1'b1;
  assign at_last_x = x == x_ext - 1'b1;
  assign at_last_y = y == y_ext - 1'b1;

  // item issue: buffer reads
  assign inp_rd_en = issuing && !binary && !reset_rows;
  assign wgt_rd_en = inp_rd_en;
  assign bin_inp_rd_en = issuing && binary && !reset_rows;
  assign bin_wgt_rd_en = bin_inp_rd_en;
  assign inp_rd_row = in_a;
  assign bin_inp_rd_row = in_a;
  assign wgt_rd_row = w_a;
  assign bin_wgt_rd_row = w_a;

  // mask fields come straight from the latched instruction word
  logic [191:0] cur;
  logic [7:0] insn_gi, insn_go;
  logic [8:0] insn_valid;
  assign insn_gi = cur[BGEMM_GROUP_IN +: BGEMM_GROUP_IN_W];
  assign insn_go = cur[BGEMM_GROUP_OUT +: BGEMM_GROUP_OUT_W];
  assign insn_valid = cur[BGEMM_VALID +: BGEMM_VALID_W];

  gemm_core #(.BLOCK_IN(BLOCK_IN), .BLOCK_OUT(BLOCK_OUT)) gemm (
    .clk(clk), .en(v[1] && !binary && !reset_rows), .signed_in(signed_in), .x(inp_rd_data), .w(wgt_rd_data), .dot(dot));
  binary_unit #(.BLOCK_OUT(BLOCK_OUT), .BIN_IN(BIN_IN), .MAX_BITS(MAX_BITS)) bin (
    .clk(clk), .rst(rst), .setup(setting_up), .group_in(insn_gi), .group_out(insn_go), .valid(insn_valid), .ready(mask_ready),
    .en(v[1] && binary && !reset_rows), .xnor_mode(xnor_mode), .plane({1'b0, plane1}), .x_row(bin_inp_rd_data),
    .w_row(bin_wgt_rd_data), .val(bval));

  // stage 3: accumulate the item into the running sum of its (y, x); its last item reads the row
  assign val3 = reset_rows ? '0 : (binary ? bval : dot);
  always_comb
    for (int o = 0; o < BLOCK_OUT; o = o + 1)
      sum_next[o*32 +: 32] = (first[3] ? 32'd0 : sum[o*32 +: 32]) + val3[o*32 +: 32];
  assign acc_rd_en = v[3] && last[3] && !reset_rows;
  assign acc_rd_row = addr3;

  // stage 4: write row + sum (the row written last cycle is forwarded: the read did not see it)
  assign base4 = (fwd_valid && fwd_row == addr4) ? fwd_data : acc_rd_data;
  always_comb
    for (int o = 0; o < BLOCK_OUT; o = o + 1)
      acc_wr_data[o*32 +: 32] = reset_rows ? 32'd0 : base4[o*32 +: 32] + sum4[o*32 +: 32];
  assign acc_wr_en = v4;
  assign acc_wr_row = addr4;

  always_ff @(posedge clk) begin
    done <= 1'b0;
    if (rst) begin
      busy <= 1'b0;
      issuing <= 1'b0;
      setting_up <= 1'b0;
      v <= 0;
      v4 <= 1'b0;
      fwd_valid <= 1'b0;
    end else begin
      if (start) begin
        cur <= insn;
        binary <= insn[2:0] == OP_BGEMM;
        reset_rows <= insn[GEMM_RESET];
        wgt0 <= insn[GEMM_WGT +: 16];
        y_ext <= insn[GEMM_Y_EXT +: 8];
        x_ext <= insn[GEMM_X_EXT +: 8];
        k_ext <= insn[GEMM_K_EXT +: 12];
        acc_y <= insn[GEMM_ACC_Y +: 16];
        acc_x <= insn[GEMM_ACC_X +: 4];
        inp_y <= insn[GEMM_INP_Y +: 16];
        inp_x <= insn[GEMM_INP_X +: 4];
        inp_k <= insn[GEMM_INP_K +: 16];
        wgt_k <= insn[GEMM_WGT_K +: 16];
        signed_in <= insn[GEMM_SIGNED];
        bits <= insn[BGEMM_BITS +: BGEMM_BITS_W];
        xnor_mode <= insn[BGEMM_XNOR];
        y <= 0; x <= 0; k <= 0; j <= 0;
        in_y <= insn[GEMM_INP +: 16];
        in_x <= insn[GEMM_INP +: 16];
        in_a <= insn[GEMM_INP +: 16];
        w_a <= insn[GEMM_WGT +: 16];
        acc_yb <= insn[GEMM_ACC +: 16];
        acc_a <= insn[GEMM_ACC +: 16];
        busy <= 1'b1;
        // empty loops do nothing
        if (insn[GEMM_Y_EXT +: 8] == 0 || insn[GEMM_X_EXT +: 8] == 0 || (insn[GEMM_K_EXT +: 12] == 0 && !insn[GEMM_RESET])) begin
          issuing <= 1'b0;
          setting_up <= 1'b0;
        end else if (insn[2:0] == OP_BGEMM && !insn[GEMM_RESET]) begin
          setting_up <= 1'b1;
        end else begin
          issuing <= 1'b1;
        end
      end else if (setting_up) begin
        if (mask_ready) begin
          setting_up <= 1'b0;
          issuing <= 1'b1;
        end
      end else if (issuing) begin
        // advance j (innermost), k, x, y
        if (!at_last_j) begin
          j <= j + 1'b1;
        end else begin
          j <= 0;
          if (!at_last_k) begin
            k <= k + 1'b1;
            in_a <= in_a + inp_k;
            w_a <= w_a + wgt_k;
          end else begin
            k <= 0;
            w_a <= wgt0;
            if (!at_last_x) begin
              x <= x + 1'b1;
              in_x <= in_x + 16'(inp_x);
              in_a <= in_x + 16'(inp_x);
              acc_a <= acc_a + 16'(acc_x);
            end else begin
              x <= 0;
              if (!at_last_y) begin
                y <= y + 1'b1;
                in_y <= in_y + inp_y;
                in_x <= in_y + inp_y;
                in_a <= in_y + inp_y;
                acc_yb <= acc_yb + acc_y;
                acc_a <= acc_yb + acc_y;
              end else begin
                issuing <= 1'b0;
              end
            end
          end
        end
      end
      // pipeline registers
      v <= {v[2:1], issuing};
      first <= {first[2:1], j == 0 && (k == 0 || reset_rows)};
      last <= {last[2:1], at_last_j && at_last_k};
      addr1 <= acc_a;
      addr2 <= addr1;
      addr3 <= addr2;
      plane1 <= j;
      if (v[3]) sum <= sum_next;
      v4 <= v[3] && last[3];
      addr4 <= addr3;
      sum4 <= sum_next;
      fwd_valid <= v4;
      fwd_row <= addr4;
      fwd_data <= acc_wr_data;
      if (busy && !start && !issuing && !setting_up && v == 0 && !v4) begin
        busy <= 1'b0;
        done <= 1'b1;
      end
    end
  end
endmodule
