// The accelerator (docs: rtl/README.md; instruction semantics: tvm_sepnet/fpga/isa.py).
//
// `start` with a program of `insn_count` instructions at DRAM byte address `insn_addr`: the fetch
// unit streams them (its own read channel) to the load, compute and store queues, which run
// concurrently and synchronize through four dependency-token counters (load->compute,
// compute->load, compute->store, store->compute). One data port (a read and a write channel) is
// shared by the load queue's LOADs, the compute queue's LOADs (acc, param) and the store queue's
// STOREs; the arbiter gives it to one instruction at a time, by fixed priority: compute queue
// (its LOADs stall the compute units), load queue, store queue. `done` rises once FINISH has
// executed and every queue and unit is idle.
//
// Memory port contract (the DRAM model of the co-simulation, or an AXI DataMover with realignment
// in a board design): a read request (byte address, `elem` bytes per element, `count` elements,
// `slot` bytes per element in the beat stream, a power of two) returns the elements in beats of
// BUS_BYTES, element i at byte (i mod (BUS/slot)) * slot of beat i div (BUS/slot) when slot <= BUS,
// else over slot/BUS consecutive beats; a write request takes its beats in the same layout and
// answers with one `wr_resp_valid` pulse. The instruction channel returns one 24-byte instruction
// per beat (slot = BUS_BYTES).
module sepnet_accel #(
  parameter int BLOCK_IN = 16,
  parameter int BLOCK_OUT = 16,
  parameter int BIN_IN = 64,
  parameter int MAX_BITS = 8,
  parameter int ALU_LANES = 8,
  parameter int BUS_BYTES = 64,
  parameter int QUEUE_DEPTH = 64,
  parameter int FETCH_DEPTH = 32,
  parameter int INP_ROWS = 2048,
  parameter int WGT_ROWS = 256,
  parameter int BIN_INP_ROWS = 512,
  parameter int BIN_WGT_ROWS = 256,
  parameter int ACC_ROWS = 2048,
  parameter int PARAM_ROWS = 32
) (
  input  logic                   clk,
  input  logic                   rst,
  input  logic                   start,
  input  logic [31:0]            insn_addr,
  input  logic [31:0]            insn_count,
  output logic                   done,
  // memory read channel
  output logic                   rd_req_valid,
  input  logic                   rd_req_ready,
  output logic [31:0]            rd_req_addr,
  output logic [15:0]            rd_req_elem,
  output logic [15:0]            rd_req_count,
  output logic [15:0]            rd_req_slot,
  input  logic                   rd_data_valid,
  output logic                   rd_data_ready,
  input  logic [BUS_BYTES*8-1:0] rd_data,
  // memory write channel
  output logic                   wr_req_valid,
  input  logic                   wr_req_ready,
  output logic [31:0]            wr_req_addr,
  output logic [15:0]            wr_req_elem,
  output logic [15:0]            wr_req_count,
  output logic [15:0]            wr_req_slot,
  output logic                   wr_data_valid,
  input  logic                   wr_data_ready,
  output logic [BUS_BYTES*8-1:0] wr_data,
  input  logic                   wr_resp_valid,
  // instruction read channel (elem 24, slot BUS_BYTES)
  output logic                   if_req_valid,
  input  logic                   if_req_ready,
  output logic [31:0]            if_req_addr,
  output logic [15:0]            if_req_count,
  input  logic                   if_data_valid,
  output logic                   if_data_ready,
  input  logic [BUS_BYTES*8-1:0] if_data,
  // instruction trace: per queue (0 load, 1 compute, 2 store) the cycle an instruction starts / ends
  output logic [2:0]             trace_start,
  output logic [2:0]             trace_end
);
`include "isa_fields.svh"
  localparam int ACC_ROW_BYTES = 4 * BLOCK_OUT;
  localparam int ACC_PIECES = ACC_ROW_BYTES > BUS_BYTES ? ACC_ROW_BYTES / BUS_BYTES : 1;
  localparam int QW = $clog2(QUEUE_DEPTH + 1);

  // --- fetch and the three queues -----------------------------------------------------------------
  logic f_all, f_valid, f_ready;
  logic [191:0] f_insn;
  logic [1:0] f_queue;

  fetch #(.DEPTH(FETCH_DEPTH), .BUS_BYTES(BUS_BYTES)) fetcher (
    .clk(clk), .rst(rst), .start(start), .addr(insn_addr), .count(insn_count), .all_fetched(f_all),
    .rd_req_valid(if_req_valid), .rd_req_ready(if_req_ready), .rd_req_addr(if_req_addr), .rd_req_count(if_req_count),
    .rd_data_valid(if_data_valid), .rd_data_ready(if_data_ready), .rd_data(if_data),
    .insn(f_insn), .insn_queue(f_queue), .insn_valid(f_valid), .insn_ready(f_ready));

  logic [2:0] q_in_ready, q_valid, q_pop;
  logic [191:0] q_head [0:2];
  logic [QW-1:0] q_count [0:2];
  assign f_ready = q_in_ready[f_queue];
  generate
    for (genvar q = 0; q < 3; q = q + 1) begin : g_queue
      sync_fifo #(.W(192), .DEPTH(QUEUE_DEPTH)) queue (
        .clk(clk), .rst(rst || start), .in_valid(f_valid && f_queue == 2'(q)), .in_ready(q_in_ready[q]), .in_data(f_insn),
        .out_valid(q_valid[q]), .out_ready(q_pop[q]), .out_data(q_head[q]), .count(q_count[q]));
    end
  endgenerate

  // --- dependency tokens -----------------------------------------------------------------------------
  logic [7:0] l2c, c2l, c2s, s2c;
  logic ld_ok, cp_ok, st_ok;
  assign ld_ok = !q_head[0][POP_NEXT] || c2l != 0;
  assign cp_ok = (!q_head[1][POP_PREV] || l2c != 0) && (!q_head[1][POP_NEXT] || s2c != 0);
  assign st_ok = !q_head[2][POP_PREV] || c2s != 0;

  // --- units --------------------------------------------------------------------------------------
  logic ld_busy, st_busy, cp_busy;          // an instruction of this queue is executing
  logic [191:0] ld_insn, cp_insn, st_insn;  // ... this one
  logic cp_is_load, cp_start_local;
  logic dl_start, dl_busy, dl_done, ds_start, ds_busy, ds_done, mm_start, mm_busy, mm_done, alu_start, alu_busy, alu_done;
  logic [191:0] dl_insn;
  logic cp_done;

  assign cp_is_load = q_head[1][2:0] == OP_LOAD;

  // --- data port arbiter: by priority compute queue (2), load queue (1), store queue (3) ------------
  logic [3:1] want, grant;
  logic [1:0] owner;
  logic port_busy;
  assign want[1] = q_valid[0] && ld_ok && !ld_busy;
  assign want[2] = q_valid[1] && cp_ok && !cp_busy && cp_is_load;
  assign want[3] = q_valid[2] && st_ok && !st_busy;
  always_comb begin
    grant = 3'd0;
    if (!port_busy && !start) begin
      if (want[2]) grant[2] = 1'b1;
      else if (want[1]) grant[1] = 1'b1;
      else if (want[3]) grant[3] = 1'b1;
    end
  end

  // --- token, queue and port bookkeeping --------------------------------------------------------------
  assign cp_start_local = q_valid[1] && cp_ok && !cp_busy && !cp_is_load && !start;
  assign q_pop[0] = grant[1];
  assign q_pop[1] = grant[2] || cp_start_local;
  assign q_pop[2] = grant[3];
  assign dl_start = grant[1] || grant[2];
  assign dl_insn = grant[1] ? q_head[0] : q_head[1];
  assign ds_start = grant[3];
  assign mm_start = cp_start_local && (q_head[1][2:0] == OP_GEMM || q_head[1][2:0] == OP_BGEMM);
  assign alu_start = cp_start_local && q_head[1][2:0] == OP_ALU;
  // FINISH and unknown opcodes complete the cycle they start
  logic cp_instant, finished, ld_done, st_done;
  logic [191:0] cp_insn_now;  // the instruction that completes: an instant one completes as it starts
  assign cp_instant = cp_start_local && !mm_start && !alu_start;
  assign cp_insn_now = cp_instant ? q_head[1] : cp_insn;
  assign ld_done = dl_done && owner == 2'd1;
  assign cp_done = (dl_done && owner == 2'd2) || mm_done || alu_done || cp_instant;
  assign st_done = ds_done;

  always_ff @(posedge clk) begin
    if (rst || start) begin
      l2c <= 0; c2l <= 0; c2s <= 0; s2c <= 0;
      ld_busy <= 1'b0; cp_busy <= 1'b0; st_busy <= 1'b0;
      port_busy <= 1'b0;
      finished <= 1'b0;
    end else begin
      // tokens: +1 when a producer instruction ends with its push flag, -1 when a consumer starts with its pop flag
      l2c <= l2c + 8'(ld_done && ld_insn[PUSH_NEXT]) - 8'(q_pop[1] && q_head[1][POP_PREV]);
      c2l <= c2l + 8'(cp_done && cp_insn_now[PUSH_PREV]) - 8'(q_pop[0] && q_head[0][POP_NEXT]);
      c2s <= c2s + 8'(cp_done && cp_insn_now[PUSH_NEXT]) - 8'(q_pop[2] && q_head[2][POP_PREV]);
      s2c <= s2c + 8'(st_done && st_insn[PUSH_PREV]) - 8'(q_pop[1] && q_head[1][POP_NEXT]);
      if (q_pop[0]) ld_insn <= q_head[0];
      if (q_pop[1]) cp_insn <= q_head[1];
      if (q_pop[2]) st_insn <= q_head[2];
      ld_busy <= q_pop[0] ? 1'b1 : (ld_done ? 1'b0 : ld_busy);
      cp_busy <= (q_pop[1] && !cp_instant) ? 1'b1 : (cp_done ? 1'b0 : cp_busy);
      st_busy <= q_pop[2] ? 1'b1 : (st_done ? 1'b0 : st_busy);
      if (cp_instant && q_head[1][2:0] == OP_FINISH) finished <= 1'b1;
      // the port: held from grant to the end of the instruction
      if (grant != 0) begin
        port_busy <= 1'b1;
        owner <= grant[1] ? 2'd1 : grant[2] ? 2'd2 : 2'd3;
      end else if (port_busy && (((owner == 2'd1 || owner == 2'd2) && dl_done) || (owner == 2'd3 && ds_done))) begin
        port_busy <= 1'b0;
      end
    end
  end

  assign done = finished && f_all && q_valid == 0 && !f_valid && !ld_busy && !cp_busy && !st_busy && !port_busy;
  assign trace_start = {q_pop[2], q_pop[1], q_pop[0]};
  assign trace_end = {st_done, cp_done, ld_done};

  // --- DMA engines ------------------------------------------------------------------------------------
  logic dl_wr_en;
  logic [2:0] dl_wr_buf;
  logic [15:0] dl_wr_row;
  logic [7:0] dl_wr_count, dl_wr_piece;
  logic [BUS_BYTES*8-1:0] dl_wr_data;

  dma_load #(.BLOCK_IN(BLOCK_IN), .BLOCK_OUT(BLOCK_OUT), .BIN_IN(BIN_IN), .MAX_BITS(MAX_BITS), .BUS_BYTES(BUS_BYTES)) loader (
    .clk(clk), .rst(rst), .start(dl_start), .insn(dl_insn), .busy(dl_busy), .done(dl_done),
    .rd_req_valid(rd_req_valid), .rd_req_ready(rd_req_ready), .rd_req_addr(rd_req_addr), .rd_req_elem(rd_req_elem),
    .rd_req_count(rd_req_count), .rd_req_slot(rd_req_slot), .rd_data_valid(rd_data_valid),
    .rd_data_ready(rd_data_ready), .rd_data(rd_data),
    .wr_en(dl_wr_en), .wr_buf(dl_wr_buf), .wr_row(dl_wr_row), .wr_count(dl_wr_count), .wr_piece(dl_wr_piece),
    .wr_data(dl_wr_data));


  logic acc_s_en, acc_s_gnt;
  logic [15:0] acc_s_row;
  logic [ACC_ROW_BYTES*8-1:0] acc_s_data;
  dma_store #(.ROW_BYTES(ACC_ROW_BYTES), .BUS_BYTES(BUS_BYTES)) storer (
    .clk(clk), .rst(rst), .start(ds_start), .insn(q_head[2]), .busy(ds_busy), .done(ds_done),
    .acc_en(acc_s_en), .acc_row(acc_s_row), .acc_gnt(acc_s_gnt), .acc_data(acc_s_data),
    .wr_req_valid(wr_req_valid), .wr_req_ready(wr_req_ready), .wr_req_addr(wr_req_addr), .wr_req_elem(wr_req_elem),
    .wr_req_count(wr_req_count), .wr_req_slot(wr_req_slot), .wr_data_valid(wr_data_valid), .wr_data_ready(wr_data_ready),
    .wr_data(wr_data), .wr_resp_valid(wr_resp_valid));

  // --- buffers ----------------------------------------------------------------------------------------
  logic inp_rd_en, wgt_rd_en, bin_inp_rd_en, bin_wgt_rd_en, param_rd_en;
  logic [15:0] inp_rd_row, wgt_rd_row, bin_inp_rd_row, bin_wgt_rd_row, param_rd_row;
  logic [BLOCK_IN*8-1:0] inp_rd_data;
  logic [BLOCK_OUT*BLOCK_IN*8-1:0] wgt_rd_data;
  logic [MAX_BITS*BIN_IN-1:0] bin_inp_rd_data;
  logic [BLOCK_OUT*BIN_IN-1:0] bin_wgt_rd_data;
  logic [BLOCK_OUT*64-1:0] param_rd_data;

  row_buffer #(.ROWS(INP_ROWS), .ROW_BYTES(BLOCK_IN), .BUS_BYTES(BUS_BYTES), .BANKED(1)) inp_buf (
    .clk(clk), .wr_en(dl_wr_en && dl_wr_buf == BUF_INP), .wr_row(dl_wr_row), .wr_count(dl_wr_count), .wr_piece(dl_wr_piece),
    .wr_data(dl_wr_data), .rd_en(inp_rd_en), .rd_row(inp_rd_row), .rd_data(inp_rd_data));
  row_buffer #(.ROWS(WGT_ROWS), .ROW_BYTES(BLOCK_OUT * BLOCK_IN), .BUS_BYTES(BUS_BYTES)) wgt_buf (
    .clk(clk), .wr_en(dl_wr_en && dl_wr_buf == BUF_WGT), .wr_row(dl_wr_row), .wr_count(dl_wr_count), .wr_piece(dl_wr_piece),
    .wr_data(dl_wr_data), .rd_en(wgt_rd_en), .rd_row(wgt_rd_row), .rd_data(wgt_rd_data));
  row_buffer #(.ROWS(BIN_INP_ROWS), .ROW_BYTES(MAX_BITS * BIN_IN / 8), .BUS_BYTES(BUS_BYTES)) bin_inp_buf (
    .clk(clk), .wr_en(dl_wr_en && dl_wr_buf == BUF_BIN_INP), .wr_row(dl_wr_row), .wr_count(dl_wr_count),
    .wr_piece(dl_wr_piece), .wr_data(dl_wr_data), .rd_en(bin_inp_rd_en), .rd_row(bin_inp_rd_row), .rd_data(bin_inp_rd_data));
  row_buffer #(.ROWS(BIN_WGT_ROWS), .ROW_BYTES(BLOCK_OUT * BIN_IN / 8), .BUS_BYTES(BUS_BYTES)) bin_wgt_buf (
    .clk(clk), .wr_en(dl_wr_en && dl_wr_buf == BUF_BIN_WGT), .wr_row(dl_wr_row), .wr_count(dl_wr_count),
    .wr_piece(dl_wr_piece), .wr_data(dl_wr_data), .rd_en(bin_wgt_rd_en), .rd_row(bin_wgt_rd_row), .rd_data(bin_wgt_rd_data));
  row_buffer #(.ROWS(PARAM_ROWS), .ROW_BYTES(8 * BLOCK_OUT), .BUS_BYTES(BUS_BYTES)) param_buf (
    .clk(clk), .wr_en(dl_wr_en && dl_wr_buf == BUF_PARAM), .wr_row(dl_wr_row), .wr_count(dl_wr_count), .wr_piece(dl_wr_piece),
    .wr_data(dl_wr_data), .rd_en(param_rd_en), .rd_row(param_rd_row), .rd_data(param_rd_data));

  // accumulator: written by the DMA (residual rows, one piece per beat), the GEMM/BGEMM back-end or the ALU
  logic mm_acc_rd_en, alu_acc_rd_en, mm_acc_wr_en, alu_acc_wr_en, acc_wr_en, acc_a_en;
  logic [15:0] mm_acc_rd_row, alu_acc_rd_row, mm_acc_wr_row, alu_acc_wr_row, acc_wr_row, acc_a_row;
  logic [BLOCK_OUT*32-1:0] mm_acc_wr_data, alu_acc_wr_data, acc_wr_data, acc_a_data;
  logic [7:0] acc_wr_mask;
  logic dma_acc;
  assign dma_acc = dl_wr_en && dl_wr_buf == BUF_ACC;
  assign acc_wr_en = dma_acc || mm_acc_wr_en || alu_acc_wr_en;
  assign acc_wr_row = dma_acc ? dl_wr_row : (mm_acc_wr_en ? mm_acc_wr_row : alu_acc_wr_row);
  assign acc_wr_mask = dma_acc ? (ACC_PIECES > 1 ? 8'd1 << dl_wr_piece : 8'd1) : 8'hFF;
  assign acc_wr_data = dma_acc ? (ACC_PIECES > 1 ? {ACC_PIECES{dl_wr_data}} : dl_wr_data[ACC_ROW_BYTES*8-1:0])
                               : (mm_acc_wr_en ? mm_acc_wr_data : alu_acc_wr_data);
  assign acc_a_en = mm_acc_rd_en || alu_acc_rd_en;
  assign acc_a_row = mm_acc_rd_en ? mm_acc_rd_row : alu_acc_rd_row;

  acc_buffer #(.ROWS(ACC_ROWS), .ROW_BYTES(ACC_ROW_BYTES), .BUS_BYTES(BUS_BYTES)) acc_buf (
    .clk(clk), .wr_en(acc_wr_en), .wr_row(acc_wr_row), .wr_mask(acc_wr_mask), .wr_data(acc_wr_data),
    .a_en(acc_a_en), .a_row(acc_a_row), .a_data(acc_a_data),
    .s_en(acc_s_en), .s_row(acc_s_row), .s_gnt(acc_s_gnt), .s_data(acc_s_data));

  // --- compute ------------------------------------------------------------------------------------------
  matmul #(.BLOCK_IN(BLOCK_IN), .BLOCK_OUT(BLOCK_OUT), .BIN_IN(BIN_IN), .MAX_BITS(MAX_BITS)) mm (
    .clk(clk), .rst(rst), .start(mm_start), .insn(q_head[1]), .busy(mm_busy), .done(mm_done),
    .inp_rd_en(inp_rd_en), .inp_rd_row(inp_rd_row), .inp_rd_data(inp_rd_data),
    .wgt_rd_en(wgt_rd_en), .wgt_rd_row(wgt_rd_row), .wgt_rd_data(wgt_rd_data),
    .bin_inp_rd_en(bin_inp_rd_en), .bin_inp_rd_row(bin_inp_rd_row), .bin_inp_rd_data(bin_inp_rd_data),
    .bin_wgt_rd_en(bin_wgt_rd_en), .bin_wgt_rd_row(bin_wgt_rd_row), .bin_wgt_rd_data(bin_wgt_rd_data),
    .acc_rd_en(mm_acc_rd_en), .acc_rd_row(mm_acc_rd_row), .acc_rd_data(acc_a_data),
    .acc_wr_en(mm_acc_wr_en), .acc_wr_row(mm_acc_wr_row), .acc_wr_data(mm_acc_wr_data));

  alu #(.BLOCK_OUT(BLOCK_OUT), .ALU_LANES(ALU_LANES)) vector_alu (
    .clk(clk), .rst(rst), .start(alu_start), .insn(q_head[1]), .busy(alu_busy), .done(alu_done),
    .acc_rd_en(alu_acc_rd_en), .acc_rd_row(alu_acc_rd_row), .acc_rd_data(acc_a_data),
    .acc_wr_en(alu_acc_wr_en), .acc_wr_row(alu_acc_wr_row), .acc_wr_data(alu_acc_wr_data),
    .param_rd_en(param_rd_en), .param_rd_row(param_rd_row), .param_rd_data(param_rd_data));
endmodule
