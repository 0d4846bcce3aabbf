"""twin/accounting"""
