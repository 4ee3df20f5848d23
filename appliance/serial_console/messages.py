"""Every sentence the console says, in English and in Chinese.

Knows: the message keys and their two wordings, and how to pick the language (the config's
`admin.lang`, else `LANG`/`LC_ALL`/`LC_MESSAGES`). Must not know: what the commands do.

A message is a `str.format` template: arguments are named, so a translation may order them
as its grammar needs. Every key exists in both languages (tests/serial_console check it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

LANGUAGES = ("en", "zh")

EN: dict[str, str] = {
    "banner": "cardgate {version} technician console on {device}",
    "banner_hint": "Type 'help' for the commands, 'lang zh' for Chinese.",
    "login_user": "user: ",
    "login_password": "password: ",
    "login_ok": "Logged in as {name} ({role}).",
    "must_change": "The password of {name} was set by an administrator: choose your own now "
                   "(at least 8 characters; empty to log out).",
    "login_failed": "Login failed: {message}",
    "login_retry_after": "Too many failures: try again in {seconds} s.",
    "login_gave_up": "Too many failed logins; the console stops.",
    "bye": "Bye.",
    "down": "The appliance is not running (no answer on {socket}). Showing what the "
            "database holds, read-only.",
    "down_hint": "Start it with 'restart'.",
    "down_needs_up": "'{command}' needs the running appliance: start it with 'restart'.",
    "back_up": "The appliance answers again.",
    "unknown_command": "Unknown command '{word}'.",
    "did_you_mean": "Did you mean '{suggestion}'? Type 'help' for the list.",
    "see_help": "Type 'help' for the list of commands.",
    "usage": "usage: {usage}",
    "error": "Error: {message}",
    "help_header": "Commands (help <command> for details):",
    "help_unknown": "No command '{word}'.",
    "lang_set": "Language: English.",
    "lang_usage": "usage: lang zh|en",
    "interrupted": "(stopped)",
    "follow_hint": "Following; Ctrl-C stops.",
    "no_modems": "No modems connected.",
    "no_sims": "No SIM cards known yet.",
    "no_inbox": "The inbox is empty.",
    "no_logs": "No log lines.",
    "col_port": "port", "col_state": "state", "col_signal": "signal",
    "col_operator": "operator", "col_reg": "network", "col_sim": "SIM (ICCID)",
    "col_day": "day", "col_hour": "hour", "col_month": "month", "col_from": "from",
    "col_time": "time", "col_text": "text", "col_iccid": "ICCID", "col_modem": "modem",
    "col_number": "number",
    "status_version": "version      {version}",
    "status_uptime": "uptime       {uptime}",
    "status_service": "service      {state}",
    "status_modems": "modems       {ready} ready of {total}",
    "status_queue": "queue        {queue}",
    "status_inbox": "inbox        {count} received",
    "status_problems": "problems     {problems}",
    "status_errors": "last errors:",
    "status_none": "none",
    "modem_details": "modem {n}: {port}",
    "modem_traffic": "AT traffic of {port} (Ctrl-C stops):",
    "modem_gone": "The modem is gone.",
    "at_warning": "{command} may change the modem's settings.",
    "at_confirm": "Type YES to send it: ",
    "at_cancelled": "Not sent.",
    "send_accepted": "Accepted as message {id} ({parts} part(s), {encoding}); following:",
    "send_state": "  {state}{sim}{error}",
    "send_final": "Message {id}: {state}.",
    "send_still": "Message {id} is still {state}; see it later in the web console.",
    "passwd_new": "new password for {name}: ",
    "passwd_again": "again: ",
    "passwd_mismatch": "The two passwords differ; nothing changed.",
    "passwd_empty": "An empty password is not allowed; nothing changed.",
    "passwd_done": "Password of {name} changed.",
    "backup_done": "Backup written: {path} ({size} bytes).",
    "restart_modem_done": "Modem {n} ({port}) is being restarted.",
    "restart_service": "Restarting the cardgate service...",
    "restart_service_done": "cardgate: {state}.",
    "restart_no_systemd": "No systemd here: start the appliance by hand with "
                          "'cardgate run --config {config}'.",
    "restart_failed": "systemctl failed: {message}",
    "factory_warning": "This ERASES every message, contact, rule, API key and user (after "
                       "a backup).",
    "factory_confirm": "Type ERASE to go on: ",
    "factory_cancelled": "Nothing erased.",
    "factory_running": "Stop the appliance first (it is still running and no systemd is "
                       "here to stop it).",
    "factory_done": "Erased. The old database is kept in {backup}; the config file is "
                    "unchanged.",
    "net_header": "Network addresses:",
    "net_none": "  no address besides loopback: is the cable plugged in?",
    "net_web": "Web console: {url}",
    "net_loopback": "The web console listens on {listen} only (this box); set http.listen "
                    "to \"0.0.0.0:{port}\" to reach it from the LAN.",
    "logs_journal": "(from the system journal)",
    "logs_none_down": "The appliance is down and there is no system journal here.",
    "offline_queue": "(read from the database file: the appliance is down)",
    # help texts, one per command
    "help_status": "status: version, uptime, addresses, queue, last errors",
    "help_modems": "modems: a table of modems with signal, operator, caps used and state",
    "help_sims": "sims: the SIM cards with their operator, state and caps used",
    "help_modem": "modem <n>: details of modem n, then its live AT log (Ctrl-C stops)",
    "help_at": "at <n> <command>: send an AT command to modem n; commands that only read "
               "(AT+CSQ, AT+CREG?, ATI...) go at once, others after typing YES",
    "help_send": "send <number> <text>: send a test message and follow its outcome",
    "help_inbox": "inbox: the last received messages",
    "help_net": "net: IP addresses and how to reach the web console",
    "help_logs": "logs [-f]: the last lines of the log (-f: follow, Ctrl-C stops)",
    "help_restart": "restart [<n>]: restart the service, or only modem n",
    "help_passwd": "passwd <user>: set a new console/web password for a user",
    "help_backup": "backup: write a backup of the database and settings",
    "help_factory-reset": "factory-reset: erase all data (after a backup); asks to type ERASE",
    "help_lang": "lang zh|en: the console's language",
    "help_help": "help [<command>]: this list, or one command's help",
    "help_quit": "quit: log out",
}

ZH: dict[str, str] = {
    "banner": "cardgate {version} 技术员控制台（{device}）",
    "banner_hint": "输入 help 查看命令，lang en 切换为英文。",
    "login_user": "用户名：",
    "login_password": "密码：",
    "login_ok": "已登录：{name}（{role}）。",
    "must_change": "{name} 的密码由管理员设置，请现在设置自己的密码（至少 8 个字符；留空则退出）。",
    "login_failed": "登录失败：{message}",
    "login_retry_after": "失败次数过多，请 {seconds} 秒后再试。",
    "login_gave_up": "登录失败次数过多，控制台退出。",
    "bye": "再见。",
    "down": "设备服务未运行（{socket} 无应答）。以下为数据库中的只读信息。",
    "down_hint": "用 restart 启动服务。",
    "down_needs_up": "“{command}”需要服务运行：请用 restart 启动。",
    "back_up": "设备服务已恢复应答。",
    "unknown_command": "未知命令“{word}”。",
    "did_you_mean": "您是否想输入“{suggestion}”？输入 help 查看命令列表。",
    "see_help": "输入 help 查看命令列表。",
    "usage": "用法：{usage}",
    "error": "错误：{message}",
    "help_header": "命令（help <命令> 查看说明）：",
    "help_unknown": "没有命令“{word}”。",
    "lang_set": "语言：中文。",
    "lang_usage": "用法：lang zh|en",
    "interrupted": "（已停止）",
    "follow_hint": "实时跟踪中，按 Ctrl-C 停止。",
    "no_modems": "没有连接调制解调器。",
    "no_sims": "尚无已知的 SIM 卡。",
    "no_inbox": "收件箱为空。",
    "no_logs": "没有日志。",
    "col_port": "端口", "col_state": "状态", "col_signal": "信号",
    "col_operator": "运营商", "col_reg": "网络", "col_sim": "SIM（ICCID）",
    "col_day": "日", "col_hour": "时", "col_month": "月", "col_from": "发件人",
    "col_time": "时间", "col_text": "内容", "col_iccid": "ICCID", "col_modem": "调制解调器",
    "col_number": "号码",
    "status_version": "版本        {version}",
    "status_uptime": "运行时间    {uptime}",
    "status_service": "服务        {state}",
    "status_modems": "调制解调器  {ready} 个就绪，共 {total} 个",
    "status_queue": "队列        {queue}",
    "status_inbox": "收件箱      已收 {count} 条",
    "status_problems": "问题        {problems}",
    "status_errors": "最近的错误：",
    "status_none": "无",
    "modem_details": "调制解调器 {n}：{port}",
    "modem_traffic": "{port} 的 AT 通信记录（Ctrl-C 停止）：",
    "modem_gone": "调制解调器已断开。",
    "at_warning": "{command} 可能改变调制解调器的设置。",
    "at_confirm": "输入 YES 确认发送：",
    "at_cancelled": "未发送。",
    "send_accepted": "已受理，消息编号 {id}（{parts} 段，{encoding}），跟踪中：",
    "send_state": "  {state}{sim}{error}",
    "send_final": "消息 {id}：{state}。",
    "send_still": "消息 {id} 仍为 {state}，稍后可在网页控制台查看。",
    "passwd_new": "{name} 的新密码：",
    "passwd_again": "再输入一次：",
    "passwd_mismatch": "两次输入的密码不一致，未作修改。",
    "passwd_empty": "密码不能为空，未作修改。",
    "passwd_done": "{name} 的密码已修改。",
    "backup_done": "备份已写入：{path}（{size} 字节）。",
    "restart_modem_done": "调制解调器 {n}（{port}）正在重启。",
    "restart_service": "正在重启 cardgate 服务……",
    "restart_service_done": "cardgate：{state}。",
    "restart_no_systemd": "此处没有 systemd：请手动运行 'cardgate run --config {config}' 启动。",
    "restart_failed": "systemctl 失败：{message}",
    "factory_warning": "此操作将在备份后清除所有消息、联系人、规则、API 密钥和用户。",
    "factory_confirm": "输入 ERASE 继续：",
    "factory_cancelled": "未清除任何数据。",
    "factory_running": "请先停止设备服务（服务仍在运行，且此处没有 systemd 可停止它）。",
    "factory_done": "已清除。旧数据库保存在 {backup}；配置文件未改动。",
    "net_header": "网络地址：",
    "net_none": "  除回环地址外没有地址：网线是否已插好？",
    "net_web": "网页控制台：{url}",
    "net_loopback": "网页控制台只监听 {listen}（仅本机）；如需从局域网访问，"
                    "请将 http.listen 设为 \"0.0.0.0:{port}\"。",
    "logs_journal": "（来自系统日志）",
    "logs_none_down": "服务未运行，且此处没有系统日志。",
    "offline_queue": "（读自数据库文件：服务未运行）",
    "help_status": "status：版本、运行时间、地址、队列、最近的错误",
    "help_modems": "modems：调制解调器列表，含信号、运营商、已用额度和状态",
    "help_sims": "sims：SIM 卡列表，含运营商、状态和已用额度",
    "help_modem": "modem <n>：第 n 个调制解调器的详情及实时 AT 记录（Ctrl-C 停止）",
    "help_at": "at <n> <命令>：向第 n 个调制解调器发送 AT 命令；只读命令（AT+CSQ、AT+CREG?、"
               "ATI 等）直接发送，其他命令需输入 YES 确认",
    "help_send": "send <号码> <内容>：发送测试短信并跟踪结果",
    "help_inbox": "inbox：最近收到的短信",
    "help_net": "net：IP 地址及网页控制台的访问方式",
    "help_logs": "logs [-f]：日志的最后几行（-f：实时跟踪，Ctrl-C 停止）",
    "help_restart": "restart [<n>]：重启服务，或只重启第 n 个调制解调器",
    "help_passwd": "passwd <用户>：为用户设置新的控制台/网页密码",
    "help_backup": "backup：备份数据库和设置",
    "help_factory-reset": "factory-reset：备份后清除所有数据；需输入 ERASE 确认",
    "help_lang": "lang zh|en：控制台语言",
    "help_help": "help [<命令>]：命令列表，或某个命令的说明",
    "help_quit": "quit：退出登录",
}

CATALOGUES: Mapping[str, Mapping[str, str]] = {"en": EN, "zh": ZH}


def language_from(configured: str, environ: Mapping[str, str] | None = None) -> str:
    """The config's choice, else the first locale variable set: zh_CN.UTF-8 -> "zh"."""
    if configured in LANGUAGES:
        return configured
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


class Messages:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"

    def __call__(self, key: str, **values: object) -> str:
        return CATALOGUES[self.lang][key].format(**values)


__all__ = ["CATALOGUES", "LANGUAGES", "Messages", "language_from"]
