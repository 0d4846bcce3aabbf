// The trainers' page in Chinese: English text (the key) -> 简体中文. The national criteria keep
// the official Chinese names the accounts give them (twin/accounting/carbon/criteria.py).
"use strict";

window.I18N = {zh: {
  // header and controls
  "watching": "仅观看", "Pause": "暂停", "Resume": "继续", "Speed": "速度", "Jump to": "跳转到",
  "Go": "前往", "Play": "播放", "Stop": "停止", "Date": "日期", "Guided tour": "导览",
  "Presenter": "演示模式", "Back": "上一步", "Next": "下一步", "Let it run": "自动播放",
  "End the tour": "结束导览", "running": "运行中", "paused": "已暂停", "finished": "已结束",
  "failed": "已失败", "starting": "启动中", "jumping": "跳转中", "replay": "回放",
  "reconnecting": "重新连接中", "connecting": "连接中", "live · {x} controller": "实时 · {x}控制器",
  "rule": "规则", "ems": "能量管理系统 (EMS)", "update every {x} s at most": "最长 {x} 秒更新一次",
  // diagram and map
  "Single-line diagram": "单线图", "Lines": "线路", "Park map": "园区示意图",
  "power on each line, arrows downstream of the PCC; loaded lines in amber and red":
    "各线路功率，箭头指向并网点下游；负载较高的线路显示为琥珀色和红色",
  "≥ 90 % loaded": "负载率 ≥ 90 %", "tripped": "已跳闸", "{k} of {n} tripped": "{n} 回中 {k} 回跳闸",
  "of {x} asked": "需求 {x}", "of {x} available": "可发 {x}", "of {x} MW asked": "需求 {x} MW",
  "islanded: no exchange with the public grid": "孤岛运行：与公共电网无交换",
  "islanded: storage discharging {x} MW to cover the load": "孤岛运行：储能放电 {x} MW 支撑负荷",
  "islanded: storage charging {x} MW while {y} MW of load is shed":
    "孤岛运行：储能仍在充电 {x} MW，同时切除负荷 {y} MW",
  "public grid": "公共电网", "main substation": "主变电站",
  // now
  "Now": "当前", "Wind": "风电", "PV": "光伏", "Load served": "供电负荷", "Storage": "储能",
  "Load shed": "切除负荷", "Network losses": "网损", "Curtailed": "弃电", "Weather": "天气",
  "Sun (GHI)": "日照 (GHI)", "Air": "气温", "Wind speed": "风速", "MW": "MW", "SOC": "荷电状态",
  "PCC (islanded)": "并网点（孤岛）", "Import": "下网", "Export": "上网",
  // carbon
  "Carbon so far": "累计碳排放", "t CO₂ (Scope 1 + location-based Scope 2)":
    "吨 CO₂（范围一 + 基于位置的范围二）", "Clean-energy share": "清洁能源消费占比",
  "criterion": "指标要求", "over {x} days": "{x} 天累计",
  // charts
  "Power": "功率", "last two days, MW (storage SOC on the right); events shaded":
    "最近两天，MW（右轴为储能荷电状态）；阴影为事件", "wind": "风电", "load served": "供电负荷",
  "PCC import": "并网点下网", "storage (charging +)": "储能（充电为正）", "SOC %": "荷电状态 %",
  "import cap (request)": "下网上限（调度请求）", "load shed": "切除负荷", "cut asked": "要求削减",
  "cut delivered": "实际削减", "cut offered (VPP)": "虚拟电厂申报削减", "load": "负荷",
  "Forecast and what happened": "预测与实际", "the EMS forecaster, 1 h ahead; dashed: the next 4 h":
    "EMS 预测器，提前 1 小时；虚线：未来 4 小时", "{x} forecast 1 h before": "{x}（提前 1 小时预测）",
  "{x} next 4 h": "{x}（未来 4 小时）",
  // events
  "Events": "事件", "for": "持续", "cut": "削减", "line": "线路", "Cloud front": "云团过境",
  "Wind lull": "风速骤降", "Heat wave": "高温热浪", "Cold wave": "寒潮", "Demand response": "需求响应",
  "Grid outage": "电网停电", "Line trip": "线路跳闸", "EV surge": "电动汽车充电高峰",
  "Defect burst": "缺陷激增", "Price signal": "电价信号", "coming": "即将开始", "in force": "进行中",
  "over": "已结束", "load shed {x} MWh": "切除负荷 {x} MWh", "curtailed {x} MWh": "弃电 {x} MWh",
  "asked {a} · offered {o} · delivered {d} · missed {m} MWh":
    "要求 {a} · 申报 {o} · 实际 {d} · 未完成 {m} MWh",
  "not answered (rule controller): missed {x} MWh of {y}": "未响应（规则控制器）：{y} MWh 中未完成 {x}",
  "no event yet: each button starts one from the step in progress": "暂无事件：按钮从当前步开始一个事件",
  "{kind} from {start} (simulated)": "{kind}自 {start} 起（仿真时间）",
  "the event falls outside the run": "事件不在本次运行的时段内",
  "the rule controller does not answer a grid operator's requests: the page shows the request missed; run the demo with --controller ems":
    "规则控制器不响应电网调度请求：页面显示该请求未完成；请用 --controller ems 运行演示",
  // EV
  "EV charging": "电动汽车充电", "Charging power": "充电功率", "Charging": "充电中",
  "Waiting": "排队", "Arrivals": "到达", "vehicles": "辆", "this step": "本步",
  "arrivals ×{x} (EV surge)": "到达量 ×{x}（充电高峰）", "EV power": "充电功率",
  "no EV hub in this scenario": "本场景没有充电站",
  // AOI
  "AOI line": "AOI 检测线", "board {x}": "电路板 {x}", "flagged ({x})": "判定缺陷（{x}）",
  "passed": "通过", "defective": "有缺陷", "good": "良品",
  "reject robot: board {x} to the tray": "剔除机器人：电路板 {x} 放入废品盘",
  "boards out (step)": "产出板数（本步）", "rejected (step)": "剔除板数（本步）",
  "throughput": "产能", "first-pass yield": "直通率", "defective share {x} %": "缺陷率 {x} %",
  "no AOI line in this scenario": "本场景没有 AOI 检测线", "findings": "缺陷",
  // KPIs
  "KPIs so far": "累计指标", "Park twin · mosaik co-simulation": "园区数字孪生 · mosaik 联合仿真",
  "kpi:e_wind_mwh": "风电发电量", "kpi:e_pv_mwh": "光伏发电量", "kpi:e_load_mwh": "用电量",
  "kpi:e_import_mwh": "下网电量", "kpi:e_export_mwh": "上网电量", "kpi:self_sufficiency": "自给率",
  "kpi:self_consumption": "就地消纳率", "kpi:p_import_peak_mw": "最大下网功率",
  "kpi:storage_efc": "储能等效完全循环次数", "kpi:e_storage_discharge_mwh": "储能放电量",
  "kpi:wind_capacity_factor": "风电容量系数", "kpi:gas_nm3": "天然气用量",
  "kpi:e_shed_mwh": "切除负荷电量", "kpi:e_curtailed_mwh": "弃电量",
  // jump, replay
  "jumping to {x}: building the park": "正在跳转到 {x}：构建园区", "jumped to {x} in {s} s": "已跳转到 {x}（{s} 秒）",
  "no step on {x} in this run": "本次运行没有 {x} 的数据",
  // guided tour
  "A spring day": "春日清晨", "A cloud front": "云团过境", "The grid operator asks for less": "电网调度要求少用电",
  "The evening peak": "晚高峰", "A line trip": "线路跳闸", "The carbon counter": "碳排放计数器",
  "Morning in the park: the sun comes up over the roofs, the wind farms feed their direct lines, the factories start the day shift. Each tile is what the co-simulation computes now.":
    "园区的早晨：太阳从屋顶升起，风电场经绿电直连线路送电，工厂开始白班。每个数字都是联合仿真此刻的计算结果。",
  "Clouds cover the park for two hours: PV falls within a step, and the import or the storage takes over. The shaded window on the chart is the event.":
    "云层覆盖园区两小时：光伏出力在一个步长内下降，由下网电量或储能补上。图中的阴影区间就是这个事件。",
  "The grid operator asks the park to import 30 MW less for two hours. The event list shows what was asked, offered by the virtual power plant and delivered, step by step; the rule controller does not answer, and the page says so.":
    "电网调度要求园区在两小时内少下网 30 MW。事件列表逐步显示要求量、虚拟电厂申报量和实际削减量；规则控制器不响应，页面会如实显示。",
  "To a request the grid operator sends this park: import {x} MW less from {at}. The event list shows what was asked, offered by the virtual power plant and delivered, step by step; the rule controller does not answer, and the page says so.":
    "跳转到电网调度向本园区发出的需求响应：自 {at} 起少下网 {x} MW。事件列表逐步显示要求量、虚拟电厂申报量和实际削减量；规则控制器不响应，页面会如实显示。",
  "Evening: the sun sets, the factories still run and the EV hubs fill up. The storage discharges into the peak; time runs faster now.":
    "傍晚：太阳落山，工厂仍在生产，充电站车辆增多。储能在高峰放电；时间现在加速运行。",
  "A cable trips: the diagram draws that line alone as tripped, and what it fed shows the power it gets, not what it asks. Load shed and network losses are counted apart.":
    "一条电缆跳闸：单线图只把这条线路画为跳闸，它所供的用户显示实际得到的功率而非需求。切除负荷与网损分开统计。",
  "Every step adds to the carbon counter, computed as for a finished run, and to the national criteria of a zero-carbon park, each against its threshold.":
    "每一步都累加到碳排放计数器（与完整运行的核算方法相同），并对照零碳园区国家指标的各项阈值。",
  // live mode (twin live --serve, live_mode.js): the twin beside the park's telemetry
  "{x} — live telemetry": "{x} — 实时遥测", "live · telemetry": "实时 · 遥测",
  "waiting": "等待数据", "following": "跟踪中", "ended": "已结束", "{x} steps": "{x} 步",
  "Measured and twin": "实测与孪生",
  "each plant's measured value beside the twin's, from the measured weather (PV, wind) and the measured power (storage's energy count)":
    "各电站实测值与孪生值并列；孪生值由实测天气（光伏、风电）和实测功率（储能电量计数）算出",
  "point": "测点", "measured": "实测", "twin": "孪生", "deviation": "偏差", "unit": "单位",
  "{x} pt": "{x} 个百分点", "measured weather: ": "实测天气：",
  "Power, measured (solid) and twin (dashed), MW": "功率：实测（实线）与孪生（虚线），MW",
  "The EMS's plan in force: its forecasts (dotted) and what it plans, MW":
    "当前执行的 EMS 计划：预测（点线）与计划值，MW",
  "{x} measured": "{x} 实测", "{x} twin": "{x} 孪生", "PV forecast": "光伏预测",
  "wind forecast": "风电预测", "load forecast": "负荷预测", "storage planned": "储能计划",
  "import − export planned": "计划净下网（下网 − 上网）",
  "Alarms": "报警", "none so far": "暂无报警", "{x} raised": "已报警 {x} 条",
  "{point} · raised {at} (since {since}) · ": "{point} · {at} 报警（自 {since} 起）· ",
  "Lost tag": "测点丢失", "Stuck meter": "电表卡滞", "Sign flip": "符号反转",
  "PV underperformance": "光伏出力不足", "Wind curtailment": "风电限出力", "Wind icing": "风机结冰",
  "SOC drift": "荷电状态漂移", "Capacity fade": "容量衰减", "Feeder mismatch": "馈线功率不平衡",
  "Bad data": "不良数据",
  "{gap} against the twin's energy count: it moves {c} times the change per MWh of the rated capacity, as with about {left} of it left":
    "与孪生电量计数相差 {gap}：每 MWh 的变化为额定容量对应变化的 {c} 倍，相当于仅剩约 {left} 容量",
  "{gap} against the twin's energy count": "与孪生电量计数相差 {gap}",
  "{v} MW of {e} MW expected, held at {h} MW": "实测 {v} MW，预期 {e} MW，保持在 {h} MW",
  "{v} MW of {e} MW expected at {c} degC": "实测 {v} MW，预期 {e} MW，气温 {c} °C",
  "{v} MW of {e} MW expected": "实测 {v} MW，预期 {e} MW", "{v} for {n} readings": "连续 {n} 次读数均为 {v}",
  "{v} MW, expected >= 0": "{v} MW，应 ≥ 0",
  "the state of charge follows the power negated": "荷电状态随功率的相反数变化",
  "no update for longer than the mapping's stale_after": "超过映射文件的 stale_after 未更新",
  "PCC {net} MW, metered parts {parts} MW": "并网点 {net} MW，各计量部分合计 {parts} MW",
  "{v} p.u. thrown out by the state estimation, which puts the bus at {e} p.u.":
    "{v} p.u. 被状态估计剔除，估计该母线电压为 {e} p.u.",
  "{x} not measured": "{x} 未测量", "outside the scenario's period": "不在场景时段内",
  "EMS recommendation": "EMS 建议",
  "planned on the live state; nothing is sent to the devices": "基于实时状态规划；不向设备下发任何指令",
  "waiting for the first step": "等待第一步", "off (twin live --recommend, or an EMS scenario)":
    "未启用（twin live --recommend，或使用 EMS 场景）", "next step": "下一步",
  "{when}, {for}: nothing recommended ({why})": "{when}（{for}）：无建议（{why}）",
  "{when}, {for}: import {x} MW planned ({status})": "{when}（{for}）：计划下网 {x} MW（{status}）",
  "MW, {x}": "MW，{x}", "charge": "充电", "discharge": "放电", "hold": "保持",
  "Estimated grid": "电网状态估计", "waiting for the first estimate": "等待首次估计",
  "bus": "母线", "measured p.u.": "实测 p.u.", "estimated p.u.": "估计 p.u.", "± σ p.u.": "± 标准差 σ p.u.",
  "Most loaded lines (estimated)": "负载率最高的线路（估计）",
  "no grid section in the mapping: nothing to estimate": "映射文件中没有 grid 部分：无可估计",
  "WLS from {m} of {n} bus voltages and the measured powers, every {k} steps; {e} estimates, {f} failed; σ from the gain matrix":
    "加权最小二乘（WLS）：{n} 个母线电压中的 {m} 个实测值及实测功率，每 {k} 步一次；已估计 {e} 次，失败 {f} 次；σ 由增益矩阵得出",
}};
