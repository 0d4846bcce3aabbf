"""The twin beside the live park: telemetry in (MQTT, OPC UA, a recorded file), the models run
on measured inputs, expected and measured compared, typed alarms; and a stand-in plant that
publishes a co-simulated park's measurements with faults on a schedule."""
