"""twin/cosim"""
